"""Upload handlers for pullbacks: stream to a temporary file and stop at the size limit.

Set them on the request before anything reads its body (``request.upload_handlers = ...``);
a view then checks :func:`upload_too_large` and answers 413.
"""

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload, TemporaryFileUploadHandler


class SizeLimitUploadHandler(FileUploadHandler):
    """Counts the bytes of each file and stops the upload once one exceeds ``limit_bytes``."""

    def __init__(self, request=None, *, limit_bytes: int):
        super().__init__(request)
        self.limit_bytes = limit_bytes
        self.exceeded = False
        self.received = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        # Known too large from Content-Length (file + 1 MB of form overhead): stop at the first file.
        self.too_long = bool(content_length and content_length > self.limit_bytes + 1024 * 1024)

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0
        if getattr(self, "too_long", False):
            self.exceeded = True
            raise StopUpload(connection_reset=False)  # the body is drained, the client gets our 413

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit_bytes:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size):
        return None


def pullback_upload_handlers(request) -> list:
    return [
        SizeLimitUploadHandler(request, limit_bytes=settings.PULLBACK_MAX_UPLOAD_BYTES),
        TemporaryFileUploadHandler(request),
    ]


def upload_too_large(request) -> bool:
    return any(getattr(h, "exceeded", False) for h in request.upload_handlers)
