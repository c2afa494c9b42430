/* san_keep_loaded.c — linked into every program of the sanitized build
 * (make SAN=1) and into nothing else.
 *
 * Contract: dlclose() keeps the library loaded and reports success.
 *
 * Why: Open MPI 4.1 loads its components (mca_*.so) with dlopen() and
 * unloads them with dlclose() in MPI_Finalize. LeakSanitizer runs after
 * that, at exit, and two things then go wrong, depending on the machine:
 *  - its tracer walks each thread's dynamic-TLS blocks, which it recorded
 *    through __tls_get_addr; the blocks of an unloaded component point
 *    into unmapped or reused memory, and the tracer dies with SIGSEGV
 *    ("Tracer caught signal 11 ... LeakSanitizer has encountered a fatal
 *    error", the DTLS range named by LSAN_OPTIONS=verbosity=1 being such a
 *    block);
 *  - an allocation made by a component that is gone has a stack of
 *    "<unknown module>" frames, so the suppressions in tests/lsan.supp
 *    (which name MPI's libraries) cannot match it: a false leak.
 * Keeping every library loaded until the process ends removes both at their
 * cause while leak detection stays on for overparam's own code (the leak
 * gate, tests/leak_gate.c and tests/san_gate.sh, proves it still fires).
 * Open MPI 5 has an MCA parameter for this (mca_base_component_disable_
 * dlclose); 4.1, Debian 12's, does not, hence the interposer. The program
 * exports the symbol (-Wl,--export-dynamic-symbol=dlclose) so that the
 * shared libraries' calls bind to it rather than to libc's or to the
 * sanitizer's own interceptor. */
int dlclose(void *handle);

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
