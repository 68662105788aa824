"""Encrypt secrets at rest with a Fernet key kept in a 0600 file outside the database."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from algovisor.errors import AlgovisorError

KEY_FILE_NAME = "secret.key"


class SecretKeyError(AlgovisorError):
    """The key file is unreadable, too open, or does not decrypt what was stored."""


class SecretBox:
    """Encrypts and decrypts strings; the key is created on first use."""

    def __init__(self, key_path: Path) -> None:
        self._key_path = key_path
        self._fernet: Fernet | None = None

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SecretBox:
        return cls(data_dir / KEY_FILE_NAME)

    def encrypt(self, plaintext: str) -> str:
        return self._cipher().encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._cipher().decrypt(token.encode("ascii")).decode()
        except InvalidToken as error:
            raise SecretKeyError(
                f"a stored secret does not decrypt with {self._key_path}",
                detail="The key file was replaced or belongs to another data directory; "
                "restore the original key file or set the secret again.",
            ) from error

    def _cipher(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._load_or_create_key())
        return self._fernet

    def _load_or_create_key(self) -> bytes:
        self._key_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self._key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return self._read_key()
        with os.fdopen(fd, "wb") as key_file:
            key_file.write(Fernet.generate_key())
            key_file.flush()
            os.fsync(key_file.fileno())
        return self._read_key()

    def _read_key(self) -> bytes:
        mode = stat.S_IMODE(self._key_path.stat().st_mode)
        if mode & 0o077:
            raise SecretKeyError(
                f"{self._key_path} is readable by others (mode {mode:o})",
                detail=f"Run: chmod 600 {self._key_path}",
            )
        return self._key_path.read_bytes().strip()
