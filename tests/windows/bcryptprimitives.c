/* TEST ONLY - never shipped in an image. Wine 8.0 has no bcryptprimitives.dll, whose
 * ProcessPrng the Rust standard library (cryptography's _rust.pyd) asks for its random
 * bytes; Windows 10 and later have it. Built with mingw into the test prefix's system32
 * (tests/windows/conftest.py), it answers from RtlGenRandom. */
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x1000000 ? 0x1000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
