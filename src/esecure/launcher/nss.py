"""Delivery of the client certificate into the live Firefox profile's NSS database.

Two paths, same result (the CA trusted for TLS servers, the key and certificate imported
under one nickname, any older certificate of that nickname removed first):

* ``ctypes``: through the NSS of the very Firefox that will be launched. Its libraries are
  loaded by absolute path with RTLD_GLOBAL, in the order that works (FINDINGS): NSS would
  otherwise load the host's older softoken by bare name and crash. The NSPR libraries the
  build bundled beside Firefox (``bundled-libs/``) are loaded first, the same way, so NSS
  never binds to a host's NSPR (or fails on a host without one). The PKCS#12 (AES, made
  in memory) needs the UCS-2 conversion callback registered, or NSS dereferences NULL.
* ``tools``: ``certutil`` / ``pk12util`` where present (Debian's libnss3-tools); the PKCS#12
  goes through a temporary file, encrypted under a one-time password.

Never while Firefox has the profile open: :func:`profile_in_use` is checked first.
The profile's key database has an empty password (an unattended start cannot ask for
one): docs/threat-model.md says what that means.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from esecure._tools import CERTUTIL, PK12UTIL, SYSTEM, Result, Runner, Tool
from esecure.errors import OperationError, ToolError
from esecure_onkey.layout import nss_dependencies, nss_libraries, platform_name

if TYPE_CHECKING:  # cryptography is imported by the functions that use it: checking
    # whether a profile is in use (every start) must not load it
    from cryptography import x509

    from esecure.launcher.keystore import Credential

__all__ = [
    "Delivery",
    "deliver",
    "delivered_serial",
    "mark_delivered",
    "nickname_for",
    "profile_in_use",
    "windows_lock_held",
]

log = logging.getLogger(__name__)

_TOOL_TIMEOUT = 30
_MAX_OLD_CERTIFICATES = 16
_MARKER = "esecure-certificate.txt"


@dataclass(frozen=True)
class Delivery:
    """How the certificate reached the profile."""

    method: str  # "ctypes" or "tools"
    nickname: str


def _failed(detail: str) -> OperationError:
    return OperationError(detail, code="ES211")


# --- pure decisions ------------------------------------------------------------------------


def nickname_for(certificate: x509.Certificate) -> str:
    """The nickname of the key's certificate in the profile: stable across renewals."""
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    serial = certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    value = serial[0].value if serial else "client"
    return f"e-secure {value if isinstance(value, str) else value.decode()}"


def _ca_nickname(ca: x509.Certificate) -> str:
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    names = ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else "e-secure CA"


# Win32 errors from opening parent.lock with no sharing.
_WIN_FILE_NOT_FOUND = 2
_WIN_PATH_NOT_FOUND = 3


def windows_lock_held(error: int) -> bool:
    """Whether a Win32 error from opening ``parent.lock`` unshared means Firefox holds it.

    0 (opened, then closed: a stale file) and "not found" mean free; a sharing violation
    means a live Firefox; anything else (access denied…) is taken as in use (pure).
    """
    return error not in {0, _WIN_FILE_NOT_FOUND, _WIN_PATH_NOT_FOUND}


def _open_unshared_windows(path: Path) -> int:
    """Open ``path`` with share mode 0 and close it again: the Win32 error, 0 on success."""
    if sys.platform == "win32":
        from ctypes import wintypes  # noqa: PLC0415

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
        create = kernel32.CreateFileW
        create.argtypes = [
            wintypes.LPCWSTR,
            wintypes.DWORD,
            wintypes.DWORD,
            wintypes.LPVOID,
            wintypes.DWORD,
            wintypes.DWORD,
            wintypes.HANDLE,
        ]
        create.restype = wintypes.HANDLE
        generic_read, open_existing, normal = 0x80000000, 3, 0x80
        handle = create(os.fspath(path), generic_read, 0, None, open_existing, normal, None)
        if handle is None or handle == ctypes.c_void_p(-1).value:
            return ctypes.get_last_error()
        kernel32.CloseHandle(handle)
        return 0
    raise OSError(f"{path}: the Windows profile lock is only readable on Windows")


def _fcntl_lock_held(path: Path) -> bool:
    """True while another process holds the fcntl lock Firefox takes on ``.parentlock``."""
    import fcntl  # noqa: PLC0415 - POSIX only

    try:
        fd = os.open(path, os.O_RDWR)
    except (FileNotFoundError, NotADirectoryError):
        return False  # no lock file (or no profile directory): nothing holds it
    except OSError:
        return True  # there but unusable: assume in use
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _symlink_lock_live(lock: Path) -> bool:
    """True while ``lock`` (Firefox's symlink lock, POSIX file systems) names a live pid."""
    try:
        target = str(lock.readlink())
    except OSError:
        return False
    _, _, pid_text = target.rpartition("+")
    try:
        pid = int(pid_text)
        os.kill(pid, 0)
    except ValueError:
        return True  # a lock we cannot read: assume in use
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def profile_in_use(profile: Path, platform: str | None = None) -> bool:
    """True while a live Firefox holds ``profile``.

    Windows: ``parent.lock`` cannot be opened without sharing (never ``os.kill``, which is
    TerminateProcess there). Elsewhere: the fcntl lock on ``.parentlock`` (the only lock on
    FAT, which has no symlinks), or a ``lock`` symlink naming a live pid.
    """
    profile = Path(profile)
    if (platform or platform_name()) == "windows":
        return windows_lock_held(_open_unshared_windows(profile / "parent.lock"))
    return _fcntl_lock_held(profile / ".parentlock") or _symlink_lock_live(profile / "lock")


def _pkcs12(credential: Credential, nickname: str, password: bytes) -> bytes:
    """The key and certificate as PKCS#12 (AES-256, PBKDF2), in memory only."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: PLC0415

    return pkcs12.serialize_key_and_certificates(
        nickname.encode(),
        credential.key,
        credential.certificate,
        None,
        serialization.BestAvailableEncryption(password),
    )


# --- the ctypes path -----------------------------------------------------------------------


class _SECItem(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)),
        ("len", ctypes.c_uint),
    )


class _CertTrust(ctypes.Structure):
    _fields_ = (
        ("sslFlags", ctypes.c_uint),
        ("emailFlags", ctypes.c_uint),
        ("objectSigningFlags", ctypes.c_uint),
    )


_UCS2_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_ubyte),
    ctypes.c_uint,
    ctypes.POINTER(ctypes.c_ubyte),
    ctypes.c_uint,
    ctypes.POINTER(ctypes.c_uint),
    ctypes.c_int,
)
_NICKNAME_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_void_p, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.c_void_p
)


def _item(data: bytes) -> tuple[_SECItem, ctypes.Array[ctypes.c_ubyte]]:
    buffer = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
    return _SECItem(0, ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ubyte)), len(data)), buffer


def _load_nss(firefox_dir: Path) -> Any:  # noqa: ANN401 - a namespace of C functions
    """Firefox's own NSS, loaded by absolute path in the order that does not crash: first
    the bundled libraries NSS needs by bare name (NSPR, when the build bundled them: the
    loader then takes the loaded ones, never the host's), then NSS itself. Each is hashed
    at start (esecure_onkey.layout.launcher_loaded)."""
    platform = platform_name()
    preload, api = nss_libraries(platform)
    mode = getattr(os, "RTLD_GLOBAL", 0) | getattr(os, "RTLD_NOW", 0)
    keep: list[ctypes.CDLL] = []
    for relative in nss_dependencies(platform):
        path = Path(firefox_dir) / relative
        if path.exists():
            try:
                keep.append(ctypes.CDLL(os.fspath(path), mode=mode))
            except OSError as exc:
                raise _failed(f"cannot load {path}: {exc}") from None
    loaded: dict[str, ctypes.CDLL] = {}
    for name in preload:
        path = Path(firefox_dir) / name
        if not path.exists():
            if name.startswith(("mozglue", "libmozglue")):
                continue
            raise _failed(f"{path} is missing: not a Firefox with its own NSS")
        try:
            loaded[name] = ctypes.CDLL(os.fspath(path), mode=mode)
        except OSError as exc:
            raise _failed(f"cannot load {path}: {exc}") from None
    # Symbols live in several libraries (PORT_* in nssutil, SEC_PKCS12* in smime): look
    # each up in the API library first, then in the others.
    ordered = [loaded[api], *(lib for name, lib in loaded.items() if name != api)]
    return _declare(ordered)


class _Api:
    """The NSS functions we call (set one by one by :func:`_declare`)."""


def _declare(libraries: list[ctypes.CDLL]) -> Any:  # noqa: ANN401 - a namespace of C functions
    p, i, u = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint
    s = ctypes.c_char_p
    signatures: dict[str, tuple[list[object], object]] = {
        "NSS_InitReadWrite": ([s], i),
        "NSS_Shutdown": ([], i),
        "PORT_GetError": ([], i),
        "PORT_SetUCS2_ASCIIConversionFunction": ([_UCS2_CALLBACK], None),
        "PORT_UCS2_UTF8Conversion": (
            [
                i,
                ctypes.POINTER(ctypes.c_ubyte),
                u,
                ctypes.POINTER(ctypes.c_ubyte),
                u,
                ctypes.POINTER(u),
            ],
            i,
        ),
        "PK11_GetInternalKeySlot": ([], p),
        "PK11_NeedUserInit": ([p], i),
        "PK11_InitPin": ([p, s, s], i),
        "PK11_FreeSlot": ([p], None),
        "PK11_FindCertFromNickname": ([s, p], p),
        "PK11_DeleteTokenCertAndKey": ([p, p], i),
        "PK11_ImportCert": ([p, p, ctypes.c_ulong, s, i], i),
        "CERT_GetDefaultCertDB": ([], p),
        "CERT_NewTempCertificate": ([p, ctypes.POINTER(_SECItem), s, i, i], p),
        "CERT_DecodeTrustString": ([ctypes.POINTER(_CertTrust), s], i),
        "CERT_ChangeCertTrust": ([p, p, ctypes.POINTER(_CertTrust)], i),
        "CERT_DestroyCertificate": ([p], None),
        "SEC_PKCS12DecoderStart": ([ctypes.POINTER(_SECItem), p, p, p, p, p, p, p], p),
        "SEC_PKCS12DecoderUpdate": ([p, ctypes.POINTER(ctypes.c_ubyte), ctypes.c_ulong], i),
        "SEC_PKCS12DecoderVerify": ([p], i),
        "SEC_PKCS12DecoderValidateBags": ([p, _NICKNAME_CALLBACK], i),
        "SEC_PKCS12DecoderImportBags": ([p], i),
        "SEC_PKCS12DecoderFinish": ([p], None),
    }
    api = _Api()
    for name, (argtypes, restype) in signatures.items():
        for library in libraries:
            try:
                function = getattr(library, name)
            except AttributeError:
                continue
            function.argtypes = argtypes
            function.restype = restype
            setattr(api, name, function)
            break
        else:
            raise _failed(f"Firefox's NSS has no {name}")
    return api


class _Nss:
    """One NSS session on a profile: init → work → shutdown, failures named by NSS code."""

    def __init__(self, nss: Any) -> None:  # noqa: ANN401 - a namespace of C functions
        self.nss = nss
        conversion = nss.PORT_UCS2_UTF8Conversion

        def ucs2(  # noqa: PLR0917 - the C callback's signature
            to_unicode: int,
            in_buf: ctypes._Pointer[ctypes.c_ubyte],
            in_len: int,
            out_buf: ctypes._Pointer[ctypes.c_ubyte],
            max_out: int,
            out_len: ctypes._Pointer[ctypes.c_uint],
            _swap: int,
        ) -> int:
            result: int = conversion(to_unicode, in_buf, in_len, out_buf, max_out, out_len)
            return result

        # Kept referenced for as long as NSS may call it.
        self.callback = _UCS2_CALLBACK(ucs2)
        self.no_rename = _NICKNAME_CALLBACK(lambda _old, _cancel, _arg: None)

    def check(self, status: int, what: str) -> None:
        if status != 0:
            raise _failed(f"NSS {what} failed (NSS error {self.nss.PORT_GetError()})")

    @contextlib.contextmanager
    def session(self, profile: Path) -> Iterator[int]:
        self.check(self.nss.NSS_InitReadWrite(f"sql:{profile}".encode()), "NSS_InitReadWrite")
        slot = None
        try:
            self.nss.PORT_SetUCS2_ASCIIConversionFunction(self.callback)
            slot = self.nss.PK11_GetInternalKeySlot()
            if not slot:
                raise _failed("NSS has no internal key slot")
            if self.nss.PK11_NeedUserInit(slot):
                self.check(self.nss.PK11_InitPin(slot, None, b""), "PK11_InitPin")
            yield slot
        finally:
            if slot:
                self.nss.PK11_FreeSlot(slot)
            self.nss.NSS_Shutdown()

    def remove(self, nickname: str) -> int:
        removed = 0
        for _ in range(_MAX_OLD_CERTIFICATES):
            cert = self.nss.PK11_FindCertFromNickname(nickname.encode(), None)
            if not cert:
                break
            status = self.nss.PK11_DeleteTokenCertAndKey(cert, None)
            self.nss.CERT_DestroyCertificate(cert)
            self.check(status, "PK11_DeleteTokenCertAndKey")
            removed += 1
        return removed

    def trust_ca(self, slot: int, ca: x509.Certificate) -> None:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        item, _buffer = _item(ca.public_bytes(serialization.Encoding.DER))
        nickname = _ca_nickname(ca).encode()
        db = self.nss.CERT_GetDefaultCertDB()
        cert = self.nss.CERT_NewTempCertificate(db, ctypes.byref(item), nickname, 0, 1)
        if not cert:
            raise _failed(f"NSS rejected the CA certificate (NSS error {self.nss.PORT_GetError()})")
        try:
            self.check(self.nss.PK11_ImportCert(slot, cert, 0, nickname, 0), "PK11_ImportCert")
            trust = _CertTrust()
            self.check(self.nss.CERT_DecodeTrustString(ctypes.byref(trust), b"C,,"), "trust")
            self.check(self.nss.CERT_ChangeCertTrust(db, cert, ctypes.byref(trust)), "trust")
        finally:
            self.nss.CERT_DestroyCertificate(cert)

    def import_pkcs12(self, slot: int, data: bytes, password: bytes) -> None:
        # The PKCS#12 password goes in as big-endian UCS-2 ending with two zero bytes.
        pw_item, _pw_buffer = _item(password.decode().encode("utf-16-be") + b"\0\0")
        ctx = self.nss.SEC_PKCS12DecoderStart(
            ctypes.byref(pw_item), slot, None, None, None, None, None, None
        )
        if not ctx:
            raise _failed(f"NSS cannot start a PKCS#12 import ({self.nss.PORT_GetError()})")
        buffer = (ctypes.c_ubyte * len(data)).from_buffer_copy(data)
        try:
            self.check(self.nss.SEC_PKCS12DecoderUpdate(ctx, buffer, len(data)), "PKCS#12 read")
            self.check(self.nss.SEC_PKCS12DecoderVerify(ctx), "PKCS#12 verify")
            self.check(self.nss.SEC_PKCS12DecoderValidateBags(ctx, self.no_rename), "PKCS#12 bags")
            self.check(self.nss.SEC_PKCS12DecoderImportBags(ctx), "PKCS#12 import")
        finally:
            self.nss.SEC_PKCS12DecoderFinish(ctx)
            ctypes.memset(buffer, 0, len(data))


def _deliver_ctypes(
    profile: Path, credential: Credential, ca: x509.Certificate, firefox_dir: Path
) -> Delivery:
    nickname = nickname_for(credential.certificate)
    session = _Nss(_load_nss(firefox_dir))
    password = secrets.token_hex(16).encode()
    data = _pkcs12(credential, nickname, password)
    with session.session(profile) as slot:
        session.trust_ca(slot, ca)
        removed = session.remove(nickname)
        session.import_pkcs12(slot, data, password)
    log.info("certificate %s delivered through NSS (%s older removed)", nickname, removed)
    return Delivery("ctypes", nickname)


# --- the certutil / pk12util path ----------------------------------------------------------


_NEEDED_BY = "delivering the certificate without Firefox's NSS"


def _deliver_tools(
    profile: Path, credential: Credential, ca: x509.Certificate, runner: Runner
) -> Delivery:
    try:
        for tool in (CERTUTIL, PK12UTIL):
            runner.find(tool, needed_by=_NEEDED_BY)
    except ToolError as exc:  # on the user's PC: the delivery failed (ES211), named
        raise ToolError(
            f"neither Firefox's NSS nor certutil/pk12util are available: {exc.detail}",
            code="ES211",
        ) from None

    def run(tool: Tool, args: list[str]) -> Result:
        # ES211 if the tool cannot start or times out; exit statuses are judged here.
        return runner.run(
            tool, args, needed_by=_NEEDED_BY, code="ES211", timeout=_TOOL_TIMEOUT, check=False
        )

    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    db = f"sql:{profile}"
    nickname = nickname_for(credential.certificate)
    if not (Path(profile) / "cert9.db").exists():
        result = run(CERTUTIL, ["-N", "-d", db, "--empty-password"])
        if result.returncode != 0:
            raise _failed(f"certutil -N: {result.stderr.strip()}")
    password = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="esecure-nss-") as tmp:
        ca_path, p12_path = Path(tmp) / "ca.pem", Path(tmp) / "client.p12"
        ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        # Encrypted under a one-time password: never a clear key in the temporary directory.
        fd = os.open(p12_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(_pkcs12(credential, nickname, password.encode()))
        result = run(
            CERTUTIL, ["-A", "-d", db, "-n", _ca_nickname(ca), "-t", "C,,", "-i", str(ca_path)]
        )
        if result.returncode != 0:
            raise _failed(f"certutil -A: {result.stderr.strip()}")
        for _ in range(_MAX_OLD_CERTIFICATES):
            if run(CERTUTIL, ["-F", "-d", db, "-n", nickname]).returncode != 0:
                break
        # A certificate left without its key (older deliveries) goes too.
        for _ in range(_MAX_OLD_CERTIFICATES):
            if run(CERTUTIL, ["-D", "-d", db, "-n", nickname]).returncode != 0:
                break
        result = run(PK12UTIL, ["-i", str(p12_path), "-d", db, "-W", password, "-K", ""])
        if result.returncode != 0:
            raise _failed(f"pk12util: {result.stderr.strip() or result.stdout.strip()}")
    log.info("certificate %s delivered with certutil/pk12util", nickname)
    return Delivery("tools", nickname)


# --- the entry point -------------------------------------------------------------------


def deliver(
    profile: Path,
    credential: Credential,
    ca: x509.Certificate,
    *,
    firefox_dir: Path | None,
    method: str = "auto",
    runner: Runner = SYSTEM,
) -> Delivery:
    """Write the CA (trusted) and the key's certificate into ``profile``'s NSS database.

    ``method``: "ctypes" (Firefox's NSS in ``firefox_dir``), "tools" (certutil/pk12util,
    started by ``runner``), or "auto" (ctypes, else the tools). ES211 on failure (a
    missing certutil/pk12util too, naming the package); ES401 if Firefox is running on
    the profile.
    """
    profile = Path(profile)
    if profile_in_use(profile):
        raise OperationError(
            f"Firefox is running on {profile}: close it before the certificate is written",
            code="ES401",
        )
    try:
        profile.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _failed(f"cannot create the profile {profile}: {exc.strerror or exc}") from None
    if method == "tools":
        return _deliver_tools(profile, credential, ca, runner)
    if method == "ctypes" or firefox_dir is not None:
        if firefox_dir is None:
            raise _failed("no Firefox directory to load NSS from")
        try:
            return _deliver_ctypes(profile, credential, ca, firefox_dir)
        except OperationError:
            if method == "ctypes":
                raise
            log.warning("NSS through ctypes failed; falling back to certutil/pk12util")
    return _deliver_tools(profile, credential, ca, runner)


def mark_delivered(profile: Path, delivery: Delivery, certificate: x509.Certificate) -> None:
    """Remember which certificate the profile holds (nickname + serial number)."""
    from esecure._fs import atomic_write  # noqa: PLC0415

    text = f"{delivery.nickname}\n{certificate.serial_number:x}\n"
    atomic_write(Path(profile) / _MARKER, text.encode("utf-8"))


def delivered_serial(profile: Path) -> str | None:
    """The serial number (hex) of the certificate last delivered into ``profile``."""
    try:
        lines = (Path(profile) / _MARKER).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    return lines[1] if len(lines) > 1 else None
