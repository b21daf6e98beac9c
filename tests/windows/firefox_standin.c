/* A stand-in firefox.exe for tests (never shipped): no Windows Firefox can be fetched on
 * the build machine. It records how it was started, then exits 0:
 *   start\t<process id>       once per start (records are appended: one block a start)
 *   arg\t<argv[i]>            one line per argument, argv[0] first
 *   env\t<NAME>=<value>       every MOZ_* variable, and ESECURE_FIREFOX_* itself
 * into %ESECURE_FIREFOX_RECORD% when set, else <profile>.firefox-record.txt next to the
 * directory given after -profile. UTF-8, LF line ends.
 * With %ESECURE_FIREFOX_HOLD% set to a path, it stays running (as a browser session does)
 * until that file exists, for at most 120 s (exit 5 when the bound is reached).
 * With %ESECURE_FIREFOX_WINDOW% set, it imitates Firefox on Windows: this process is the
 * launcher process, which starts a copy of itself as the browser process (marked by
 * %ESECURE_FIREFOX_BROWSER%) and exits at once, or with -wait-for-browser waits for it
 * and exits with its code. The browser process opens a visible top-level window of class
 * MozillaWindowClass and records into the same file:
 *   window\t<process id>      its window is shown
 *   activated\t<process id>   its window became the active one (each time)
 *   closed\tWM_CLOSE          it was asked to close (then it exits 0)
 *   closed\tignored           asked, with %ESECURE_FIREFOX_STUBBORN% set: it stays open
 * and exits 5 after 120 s if nobody closed it.
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

static wchar_t record_path[32768];

static void put(FILE *out, const char *kind, const wchar_t *text)
{
    char buffer[32768];
    int n = WideCharToMultiByte(CP_UTF8, 0, text, -1, buffer, sizeof buffer, NULL, NULL);
    if (n <= 0)
        buffer[0] = '\0';
    fprintf(out, "%s\t%s\n", kind, buffer);
}

static void note(const char *kind, const char *text)
{
    FILE *out = _wfopen(record_path, L"ab");
    if (out == NULL)
        return;
    fprintf(out, "%s\t%s\n", kind, text);
    fclose(out);
}

static void note_pid(const char *kind)
{
    char pid[32];
    snprintf(pid, sizeof pid, "%lu", (unsigned long)GetCurrentProcessId());
    note(kind, pid);
}

static LRESULT CALLBACK window_proc(HWND window, UINT message, WPARAM wparam, LPARAM lparam)
{
    switch (message) {
    case WM_ACTIVATE:
        if (LOWORD(wparam) != WA_INACTIVE)
            note_pid("activated");
        break;
    case WM_CLOSE:
        if (_wgetenv(L"ESECURE_FIREFOX_STUBBORN") != NULL) {
            note("closed", "ignored");
            return 0;
        }
        note("closed", "WM_CLOSE");
        DestroyWindow(window);
        return 0;
    case WM_TIMER:
        note("timeout", "120 s");
        ExitProcess(5);
    case WM_DESTROY:
        PostQuitMessage(0);
        return 0;
    }
    return DefWindowProcW(window, message, wparam, lparam);
}

/* The browser process: one window, until WM_CLOSE (or the bound). */
static int browser(void)
{
    WNDCLASSW cls = {0};
    cls.lpfnWndProc = window_proc;
    cls.hInstance = GetModuleHandleW(NULL);
    cls.lpszClassName = L"MozillaWindowClass";
    if (!RegisterClassW(&cls))
        return 6;
    HWND window = CreateWindowExW(0, cls.lpszClassName, L"stand-in Firefox",
                                  WS_OVERLAPPEDWINDOW | WS_VISIBLE, 0, 0, 400, 300, NULL, NULL,
                                  cls.hInstance, NULL);
    if (window == NULL)
        return 7;
    ShowWindow(window, SW_SHOW);
    SetTimer(window, 1, 120000, NULL);
    note_pid("window");
    MSG message;
    while (GetMessageW(&message, NULL, 0, 0) > 0) {
        TranslateMessage(&message);
        DispatchMessageW(&message);
    }
    return 0;
}

/* The launcher process: the browser process started, waited for with -wait-for-browser. */
static int launcher(int argc, wchar_t **argv)
{
    wchar_t self[32768];
    GetModuleFileNameW(NULL, self, 32768);
    SetEnvironmentVariableW(L"ESECURE_FIREFOX_BROWSER", L"1");
    STARTUPINFOW startup = {0};
    startup.cb = sizeof startup;
    PROCESS_INFORMATION child;
    if (!CreateProcessW(self, GetCommandLineW(), NULL, NULL, FALSE, 0, NULL, NULL, &startup,
                        &child))
        return 8;
    CloseHandle(child.hThread);
    int wait = 0;
    for (int i = 1; i < argc; i++)
        wait = wait || wcscmp(argv[i], L"-wait-for-browser") == 0;
    DWORD code = 0;
    if (wait) {
        if (WaitForSingleObject(child.hProcess, 130000) != WAIT_OBJECT_0)
            code = 9;
        else
            GetExitCodeProcess(child.hProcess, &code);
    }
    CloseHandle(child.hProcess);
    return (int)code;
}

int wmain(int argc, wchar_t **argv)
{
    const wchar_t *given = _wgetenv(L"ESECURE_FIREFOX_RECORD");
    record_path[0] = L'\0';
    if (given != NULL && given[0] != L'\0') {
        wcsncpy(record_path, given, 32767);
    } else {
        for (int i = 1; i + 1 < argc; i++) {
            if (wcscmp(argv[i], L"-profile") == 0) {
                _snwprintf(record_path, 32767, L"%ls.firefox-record.txt", argv[i + 1]);
                break;
            }
        }
    }
    record_path[32767] = L'\0';
    if (record_path[0] == L'\0')
        return 3;
    const wchar_t *is_browser = _wgetenv(L"ESECURE_FIREFOX_BROWSER");
    if (is_browser != NULL && is_browser[0] != L'\0')
        return browser();
    FILE *out = _wfopen(record_path, L"ab");
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
    const wchar_t *windowed = _wgetenv(L"ESECURE_FIREFOX_WINDOW");
    if (windowed != NULL && windowed[0] != L'\0')
        return launcher(argc, argv);
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
