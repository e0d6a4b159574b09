"""The script PyInstaller freezes (see build.spec): the standalone app's entry point.

PyInstaller runs its entry script as a top-level ``__main__`` with no package around it, so this
file only uses absolute imports and hands over to ``fmnist_desktop.app.main`` — the same function
the ``fmnist-desktop`` command runs from source. ``app.main`` handles ``--version`` and
``--self-test`` before any QApplication exists.
"""

import multiprocessing
import sys

if __name__ == "__main__":
    # Needed before anything else in a frozen program: a child process started by multiprocessing
    # re-runs this executable and must not open a second window.
    multiprocessing.freeze_support()
    from fmnist_desktop.app import main

    sys.exit(main())
