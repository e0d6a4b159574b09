"""Every QSettings key the GUI uses, in one place (pages share some; none imports another page)."""

WINDOW_GEOMETRY = "window/geometry"
WINDOW_PAGE = "window/page"

TRAIN_LAST_RUN = "train/lastRun"  # JSON of the last started run's settings (Retrain uses it)
TRAIN_FORM = "train/form"  # JSON of the Train page's form as the user left it
DATA_FOLDER = "train/dataFolder"  # the Fashion-MNIST folder the user chose (Train and Evaluate pages)

PREDICT_LAST_DIR = "predict/last_dir"

MODELS_LAST_DIR = "models/last_dir"
TRAIN_SPEED = "train/measuredSpeed"  # JSON {"<arch>|<device>": training images per second, measured here}
TRAIN_PHOTOS = "train/photos"  # the labelled photo set (labels CSV or folder) last chosen on the Train page
