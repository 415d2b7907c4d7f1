/* http_ca.c - the CA bundle a portable build uses when http.caFile is unset.
 *
 * The wheel's libcurl and OpenSSL are built from source with /etc/ssl as
 * OpenSSL's directory, which holds the system's trust store on Debian,
 * Ubuntu, SUSE and Alpine but not on Fedora, RHEL or CentOS.  So, as Go's
 * crypto/x509 does, the first bundle that exists among the known paths is
 * used.  $SSL_CERT_FILE and $SSL_CERT_DIR, when set, win (OpenSSL reads
 * them itself).  Probed once per process (a few access(2) calls); a build
 * linked against the distribution's libcurl (no OSSC_PORTABLE) keeps that
 * libcurl's own default and never probes. */
#include "http_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef OSSC_PORTABLE
static const char *const known_bundles[] = {
    "/etc/ssl/certs/ca-certificates.crt",                /* Debian, Ubuntu, Arch, Gentoo */
    "/etc/pki/tls/certs/ca-bundle.crt",                  /* Fedora, RHEL */
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", /* CentOS, RHEL 7+ */
    "/etc/ssl/ca-bundle.pem",                            /* openSUSE */
    "/etc/ssl/cert.pem",                                 /* Alpine, macOS-like layouts */
    "/etc/pki/tls/cacert.pem",                           /* OpenELEC */
};

static const char *probed;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

static void probe(void)
{
    if (getenv("SSL_CERT_FILE") || getenv("SSL_CERT_DIR"))
        return;
    for (size_t i = 0; i < sizeof known_bundles / sizeof known_bundles[0]; i++)
        if (access(known_bundles[i], R_OK) == 0) {
            probed = known_bundles[i];
            return;
        }
}
#endif

const char *ossc_http_default_ca(void)
{
#ifdef OSSC_PORTABLE
    pthread_once(&probe_once, probe);
    return probed;
#else
    return NULL;
#endif
}
