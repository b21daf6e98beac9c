/* Holds a file open with no sharing, as an on-access antivirus scanner does while it scans
 * or blocks a file (tests only, never shipped): every other open of it for reading fails
 * with a sharing violation. Usage: hold_file.exe FILE RELEASE. Prints "held" once FILE is
 * open, then waits until the file RELEASE exists, for at most 120 s (exit 5 then).
 */
#include <stdio.h>
#include <windows.h>

int wmain(int argc, wchar_t **argv)
{
    if (argc != 3)
        return 2;
    HANDLE held = CreateFileW(argv[1], GENERIC_READ, 0, NULL, OPEN_EXISTING,
                              FILE_ATTRIBUTE_NORMAL, NULL);
    if (held == INVALID_HANDLE_VALUE) {
        printf("error %lu\n", (unsigned long)GetLastError());
        return 3;
    }
    printf("held\n");
    fflush(stdout);
    int code = 0;
    for (int tenths = 0; GetFileAttributesW(argv[2]) == INVALID_FILE_ATTRIBUTES; tenths++) {
        if (tenths >= 1200) {
            code = 5;
            break;
        }
        Sleep(100);
    }
    CloseHandle(held);
    return code;
}
