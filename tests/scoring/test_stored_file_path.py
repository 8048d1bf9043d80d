"""stored_file_path: local storage gives the file itself, a storage without paths a temporary copy."""

import io
from pathlib import Path

import pytest

from scoring.services import stored_file_path


class _RemoteFile:
    """A stored file on a storage without local paths (like S3): ``path`` is not implemented."""

    def __init__(self, data: bytes):
        self.data = data

    @property
    def path(self):
        raise NotImplementedError("This backend doesn't support absolute paths.")

    def open(self, mode="rb"):
        return io.BytesIO(self.data)


class _LocalFile:
    def __init__(self, path: Path):
        self.path = str(path)


def test_a_remote_file_is_downloaded_to_a_temporary_file_that_is_removed_afterwards():
    data = b"DICM" * 2_300_000  # 9.2 MB: more than one 8 MB copy chunk
    with stored_file_path(_RemoteFile(data)) as path:
        assert Path(path).read_bytes() == data
    assert not Path(path).exists()


def test_a_local_file_is_used_in_place(tmp_path):
    f = tmp_path / "a.dcm"
    f.write_bytes(b"x")
    with stored_file_path(_LocalFile(f)) as path:
        assert path == str(f)


def test_an_error_in_the_callers_block_propagates_unchanged(tmp_path):
    """A decoder's NotImplementedError inside the block is not taken for "no local paths"."""
    f = tmp_path / "a.dcm"
    f.write_bytes(b"x")
    with pytest.raises(NotImplementedError, match="no decoder"):
        with stored_file_path(_LocalFile(f)):
            raise NotImplementedError("no decoder")
