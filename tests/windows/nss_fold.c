/* The folded nss3.dll of a stand-in Windows Firefox (tests only, never shipped).
 *
 * Mozilla's Windows Firefox folds NSPR, nssutil, smime and ssl into one nss3.dll, which is
 * what the launcher loads. The only Windows NSS this machine can obtain is an unfolded
 * mingw build (one DLL per library), so tests/windows_firefox.py renames its nss3.dll to
 * nss3real.dll and links this file into a new nss3.dll whose exports forward to the
 * libraries (a generated .def). The imports below make the loader load every forwarded-to
 * library beside this DLL when it is loaded, so each forward resolves there.
 */
__declspec(dllimport) int NSS_Shutdown(void);
__declspec(dllimport) int SEC_PKCS12DecoderFinish(void *);
__declspec(dllimport) int PORT_GetError(void);
__declspec(dllimport) int PR_GetError(void);
__declspec(dllimport) char *PL_strdup(const char *);
__declspec(dllimport) void *PL_NewHashTable(void);

void *esecure_fold_anchor[] = {
    (void *)NSS_Shutdown, (void *)SEC_PKCS12DecoderFinish, (void *)PORT_GetError,
    (void *)PR_GetError,  (void *)PL_strdup,               (void *)PL_NewHashTable,
};

int __stdcall DllMainCRTStartup(void *instance, unsigned long reason, void *reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return 1;
}
