"""Ed25519 signature verification (RFC 8032, section 5.1.7) in pure Python.

The bootstrap is frozen with the standard library only, so it carries its own verifier;
only verification: nothing on a key ever signs. Tested on the RFC's vectors, against
OpenSSL's signatures, and on flipped bits (tests/onkey/test_ed25519.py).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

__all__ = ["check_signature", "public_key_from_pem", "verify_ed25519"]

# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE, AlgorithmIdentifier
# 1.3.101.112, BIT STRING of 33 bytes; the 32 key bytes follow.
_ED25519_SPKI = bytes.fromhex("302a300506032b6570032100")

# Points are in extended coordinates
# (X:Y:Z:T) with x = X/Z, y = Y/Z, x*y = T/Z (RFC 8032, section 5.1.4).

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_D2 = 2 * _D % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_BY = 4 * pow(5, _P - 2, _P) % _P
_BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202
_Point = tuple[int, int, int, int]
_B: _Point = (_BX, _BY, 1, _BX * _BY % _P)
_IDENTITY: _Point = (0, 1, 1, 0)


def _add(p: _Point, q: _Point) -> _Point:
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % _P
    b = (y1 + x1) * (y2 + x2) % _P
    c = t1 * _D2 * t2 % _P
    d = 2 * z1 * z2 % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _double(p: _Point) -> _Point:
    x1, y1, z1, _t1 = p
    a = x1 * x1 % _P
    b = y1 * y1 % _P
    c = 2 * z1 * z1 % _P
    h = a + b
    e = h - (x1 + y1) * (x1 + y1)
    g = a - b
    f = c + g
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _base_table() -> list[_Point]:
    """[2^i]B for i in 0..252: the base multiple then needs additions only."""
    table = [_B]
    for _ in range(252):
        table.append(_double(table[-1]))
    return table


_BASE_TABLE: list[_Point] = []


def _mul_base(scalar: int) -> _Point:
    if not _BASE_TABLE:
        _BASE_TABLE.extend(_base_table())
    out = _IDENTITY
    for i in range(scalar.bit_length()):
        if scalar >> i & 1:
            out = _add(out, _BASE_TABLE[i])
    return out


def _mul(scalar: int, point: _Point) -> _Point:
    """[scalar]point with a 4-bit fixed window (about 64 additions instead of 128)."""
    table = [_IDENTITY, point]
    for _ in range(14):
        table.append(_add(table[-1], point))
    out = _IDENTITY
    for shift in range((scalar.bit_length() + 3) // 4 * 4 - 4, -4, -4):
        out = _double(_double(_double(_double(out))))
        digit = scalar >> shift & 15
        if digit:
            out = _add(out, table[digit])
    return out


def _decode_point(data: bytes) -> _Point | None:
    """RFC 8032, section 5.1.3: a 32-byte encoding to a point, or None when invalid."""
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    x_0 = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P) % _P
    if (v * x * x - u) % _P != 0:
        if (v * x * x + u) % _P != 0:
            return None
        x = x * _SQRT_M1 % _P
    if x == 0 and x_0 == 1:
        return None
    if x & 1 != x_0:
        x = _P - x
    return (x, y, 1, x * y % _P)


def _same_point(p: _Point, q: _Point) -> bool:
    x1, y1, z1, _ = p
    x2, y2, z2, _ = q
    return (x1 * z2 - x2 * z1) % _P == 0 and (y1 * z2 - y2 * z1) % _P == 0


def verify_ed25519(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032, section 5.1.7: is ``signature`` a valid Ed25519 signature of ``message``?

    Rejects wrong lengths, keys and R that do not decode, and a non-canonical S (S >= L),
    then checks [S]B = R + [k]A with k = SHA-512(R || A || M) mod L.
    """
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a = _decode_point(public_key)
    r = _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    digest = hashlib.sha512(signature[:32] + public_key + message).digest()
    k = int.from_bytes(digest, "little") % _L
    return _same_point(_mul_base(s), _add(r, _mul(k, a)))


def public_key_from_pem(pem: bytes) -> bytes | None:
    """The 32 bytes of an Ed25519 public key in PEM (SubjectPublicKeyInfo), or None."""
    lines = pem.decode("ascii", "replace").strip().splitlines()
    if len(lines) < 3 or lines[0] != "-----BEGIN PUBLIC KEY-----":
        return None
    if lines[-1] != "-----END PUBLIC KEY-----":
        return None
    try:
        der = base64.b64decode("".join(lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(der) != 44 or not der.startswith(_ED25519_SPKI):
        return None
    return der[len(_ED25519_SPKI) :]


def check_signature(data: bytes, signature_file: bytes, public_key_pem: bytes, what: str) -> str:
    """ "" when ``signature_file`` (base64 on one line, as every ``.sig`` on a key) is a valid
    signature of ``data`` by the PEM key; else why not, naming ``what`` was checked."""
    key = public_key_from_pem(public_key_pem)
    if key is None:
        return "the image-signing public key is not an Ed25519 public key"
    try:
        raw = base64.b64decode(signature_file.strip(), validate=True)
    except (binascii.Error, ValueError):
        return f"the signature of {what} is not base64"
    if not verify_ed25519(key, data, raw):
        return f"{what} is not signed by the image-signing key"
    return ""
