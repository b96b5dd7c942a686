"""Training data: SpaceNet reader, synthetic cities, targets, cache, augmentation, sampling."""
