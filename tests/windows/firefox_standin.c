/* A stand-in firefox.exe for tests (never shipped): no Windows Firefox can be fetched on
 * the build machine. It records how it was started, then exits 0:
 *   start\t<process id>       once per start (records are appended: one block a start)
 *   arg\t<argv[i]>            one line per argument, argv[0] first
 *   env\t<NAME>=<value>       every MOZ_* variable, and ESECURE_FIREFOX_* itself
 * into %ESECURE_FIREFOX_RECORD% when set, else <profile>.firefox-record.txt next to the
 * directory given after -profile. UTF-8, LF line ends.
 * With %ESECURE_FIREFOX_HOLD% set to a path, it stays running (as a browser session does)
 * until that file exists, for at most 120 s (exit 5 when the bound is reached).
 * Built with `-DSTANDIN_DLL -shared`, it is the stand-in of Firefox's DLLs (no exports).
 */
#ifdef STANDIN_DLL
#include <windows.h>
BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
#else
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <windows.h>

static void put(FILE *out, const char *kind, const wchar_t *text)
{
    char buffer[32768];
    int n = WideCharToMultiByte(CP_UTF8, 0, text, -1, buffer, sizeof buffer, NULL, NULL);
    if (n <= 0)
        buffer[0] = '\0';
    fprintf(out, "%s\t%s\n", kind, buffer);
}

int wmain(int argc, wchar_t **argv)
{
    wchar_t path[32768];
    const wchar_t *given = _wgetenv(L"ESECURE_FIREFOX_RECORD");
    path[0] = L'\0';
    if (given != NULL && given[0] != L'\0') {
        wcsncpy(path, given, 32767);
    } else {
        for (int i = 1; i + 1 < argc; i++) {
            if (wcscmp(argv[i], L"-profile") == 0) {
                _snwprintf(path, 32767, L"%ls.firefox-record.txt", argv[i + 1]);
                break;
            }
        }
    }
    path[32767] = L'\0';
    if (path[0] == L'\0')
        return 3;
    FILE *out = _wfopen(path, L"ab");
    if (out == NULL)
        return 4;
    fprintf(out, "start\t%lu\n", (unsigned long)GetCurrentProcessId());
    for (int i = 0; i < argc; i++)
        put(out, "arg", argv[i]);
    for (wchar_t **e = _wenviron; e != NULL && *e != NULL; e++) {
        if (wcsncmp(*e, L"MOZ_", 4) == 0 || wcsncmp(*e, L"ESECURE_FIREFOX_", 16) == 0)
            put(out, "env", *e);
    }
    fclose(out);
    const wchar_t *hold = _wgetenv(L"ESECURE_FIREFOX_HOLD");
    if (hold != NULL && hold[0] != L'\0') {
        for (int tenths = 0; GetFileAttributesW(hold) == INVALID_FILE_ATTRIBUTES; tenths++) {
            if (tenths >= 1200)
                return 5;
            Sleep(100);
        }
    }
    return 0;
}
#endif
