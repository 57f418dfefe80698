/* A stand-in for Windows' bcryptprimitives.dll, which Wine 8.0 (Debian 12)
 * lacks and Rust's std imports for `ProcessPrng` (rust-lang/rust#121337).
 * Used only to run the test suite under Wine in CI (.ci/run); it fills the
 * buffer with advapi32's RtlGenRandom (SystemFunction036), which Wine has. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
