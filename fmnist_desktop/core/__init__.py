"""Qt-free core of Fashion-MNIST Desktop, in layers (each imports only the ones below it):

    jobs     recipes: train → evaluate → calibrate → save (runs), fine-tune, tune, export
    predict  the Predictor (photo → model → verdict, decided once), photo-folder evaluation
    learn    training loop, test metrics, augmentation, batched inference, calibration
    store    checkpoints, the model library, the user's photos and presets, logs
    data     Fashion-MNIST (IDX files), labelled photo folders and label files, caches
    models   the networks, their metadata, the training presets
    photo    photo preparation: background, crop, 28×28 light on black
    base     errors, class names, formats, limits, output escaping, paths, the "not sure" rule

pyproject.toml's import-linter contracts enforce the order and that nothing here imports PySide6,
ui, cli, serve or app. Modules that need torch import it at module level, so the GUI imports them
lazily, off the GUI thread; `base`, `models.arch_info` and `store.logs` stay torch-free so the GUI
can use them at start-up.
"""
