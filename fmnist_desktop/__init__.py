"""Fashion-MNIST Desktop: train, inspect and use a clothing-image classifier."""

__version__ = "0.1.0"
APP_NAME = "Fashion-MNIST Desktop"
APP_ID = "fmnist-desktop"
ORG_NAME = "fmnist-desktop"
