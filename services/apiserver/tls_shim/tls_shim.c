/* Built as build/lib/civetweb-ssl/libssl.so with SONAME "libssl.so" and
 * DT_NEEDED libssl.so.3. porch-apiserver links it (RUNPATH points there), so
 * civetweb's dlopen("libssl.so") returns this already-loaded object, and its
 * dlsym() finds everything else in the real libssl.so.3 behind it. Here we add
 * only the one symbol OpenSSL 3 dropped (a macro for SSL_get1_peer_certificate,
 * same reference semantics: civetweb X509_free()s the result). */
#include "tls_shim.h"

#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *s);

X509 *SSL_get_peer_certificate(const SSL *s)
{
    return SSL_get1_peer_certificate(s);
}

void apiserver_tls_shim_check(void) {}
