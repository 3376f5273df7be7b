/* A shim that lets Debian's civetweb 1.15 do TLS on OpenSSL 3. civetweb
 * dlopen()s "libssl.so" and looks up SSL_get_peer_certificate, which OpenSSL 3
 * only has as a macro; without it civetweb calls a NULL pointer on the first
 * handshake. See tls_shim.c for how the shim is found first. */
#ifndef PORCH_APISERVER_TLS_SHIM_H
#define PORCH_APISERVER_TLS_SHIM_H

/* Referencing this keeps the shim linked (and so loaded before civetweb's dlopen). */
void apiserver_tls_shim_check(void);

#endif
