"""The Predict page's link to My photos (`core.store.user_photos`): counting them in a task (so no
folder is walked on the GUI thread; the same task then stores the photo model's embeddings of
newly kept photos), keeping the shown photo or a row's with its class (and saying so, or why not,
through `message`: the page's banner), the My photos dialog."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from ....core.base import edition
from ....core.base.errors import FmnistError
from ....core.base.labels import label_name


class MyPhotosLink(QObject):
    counted = Signal()  # `count` and `readiness` are new
    changed = Signal()  # the dialog added, moved or removed photos
    message = Signal(str, bool)  # for the page's banner: the text, is it an error

    def __init__(self, context, task, parent: QObject | None = None):
        super().__init__(parent)
        self.context = context
        self._task = task  # the page's "photos" task
        self.count: int | None = None  # None until counted (in the background)
        self.readiness = None  # core.store.user_photos.FinetuneReadiness, once counted

    def recount(self) -> None:
        """Count the stored photos in the background (`counted` follows), then store the active
        photo model's embeddings of kept photos that lack them (a photo just kept, or kept before
        the model changed), so a later fine-tune costs only the head's steps."""
        if not self.context.is_torch_ready():
            return
        photo_model = self.context.active_entry_of("photo")
        model_path = None if photo_model is None else photo_model.path

        def count(state):
            from ....core.store import user_photos

            examples = user_photos.list_examples()
            state.set_partial_result((len(examples), user_photos.finetune_readiness(examples)))
            if model_path is not None and examples:
                from ....core.jobs.photo_finetune import photos_the_photo_model_answers, store_kept_embeddings
                from ....core.store.twins import existing_twin

                # the lite edition cannot make a twin: the embeddings come through the one there is
                find_twin = None if edition.has_torch() else existing_twin
                try:
                    store_kept_embeddings(model_path, photos_the_photo_model_answers(examples), stop=state,
                                          find_twin=find_twin)
                except (FmnistError, OSError):
                    pass  # the fine-tune computes what is missing

        def counted(value) -> None:
            self.count, self.readiness = value
            self.counted.emit()

        self._task.start(count, on_partial=counted, on_error=lambda _message: counted((0, None)), needs_torch=True)

    @staticmethod
    def keep(source, class_index: int) -> None:
        """Keep a photo with its class; raises core.base.errors.FmnistError."""
        from ....core.store import user_photos

        user_photos.add_example(source, class_index)

    def keep_and_say(self, source, class_index: int, name: str = "") -> bool:
        """Keep a photo with its class and say so ("Saved [name] to My photos as …"); False, with
        the reason said, when it could not be kept."""
        try:
            self.keep(source, class_index)
        except FmnistError as exc:
            self.message.emit(str(exc), True)
            return False
        self.message.emit(f"Saved {name + ' ' if name else ''}to My photos as “{label_name(class_index)}”.", False)
        return True

    def open_dialog(self, parent) -> None:
        if not self.context.is_torch_ready():
            self.message.emit("My photos become available once the model engine has loaded.", True)
            return
        from ....core.store import user_photos
        from .my_photos import MyPhotosDialog

        dialog = MyPhotosDialog(self.context, user_photos, parent)
        dialog.changed.connect(self.changed.emit)
        dialog.open()
