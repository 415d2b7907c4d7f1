/* hostport.h - broadcasting's addresses as they are written: "host:port",
 * or "[v6 address]:port" for an IPv6 address (OSSC_BROADCAST_ADVERTISE,
 * OSSC_BROADCAST_LISTEN, the registry's node addresses). */
#ifndef OSSC_BC_HOSTPORT_H
#define OSSC_BC_HOSTPORT_H

#include <stdbool.h>
#include <stddef.h>

/* Splits s into host (without brackets; NUL-terminated in host[cap]) and a
 * port in 0..65535.  -1 when s is not host:port: no port or a port that is
 * not a decimal number in range, an empty host, a host with ':', '[' or ']'
 * outside brackets (an IPv6 address must be bracketed: "::1:7070" is
 * ambiguous), brackets around anything but an IPv6 address (a name, IPv4,
 * or a zone id such as "%eth0"), text between ']' and ':', or a host that
 * does not fit. */
int bc_hostport_split(const char *s, char *host, size_t cap, int *port);

/* True when host, as split from an address written without brackets, is a
 * name or an IPv4 address: letters, digits, '-', '.', '_' only.
 * bc_hostport_split lets any other byte through; an advertised host becomes
 * the host of other nodes' http:// URLs and of log lines, so no '/', '?',
 * '@', space or control character (the registry skips such members). */
bool bc_hostport_name_ok(const char *host);

/* Writes host and port as an address into out[cap]: brackets around a
 * host with ':' (IPv6).  -1 when it does not fit. */
int bc_hostport_join(const char *host, int port, char *out, size_t cap);

#endif
