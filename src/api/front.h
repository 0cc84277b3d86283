/* The API socket's front door: one thread that accepts connections,
 * refuses other users (403), waits without blocking for each request's
 * head and checks it (http_head.h), answering what it refuses with a JSON
 * fault, and hands the rest to libmicrohttpd (MHD_add_connection). A
 * client that sends no complete head within API_FRONT_TIMEOUT_S gets 408.
 * Every reply closes its connection, so each request on the socket passes
 * the check: no second request can reach the library unchecked. */
#ifndef CORRAL_API_FRONT_H
#define CORRAL_API_FRONT_H

#include <microhttpd.h>
#include <sys/types.h>

#define API_FRONT_TIMEOUT_S 10
#define API_FRONT_MAX_PENDING 256

struct api_front;

/* Serve listen_fd (owned from here on) into daemon. 0 or -errno. */
int api_front_start(struct api_front **out, int listen_fd, struct MHD_Daemon *daemon,
                    uid_t owner);
/* Stop accepting: joins the thread, closes the listening socket and the
 * connections still waiting for their heads. */
void api_front_stop(struct api_front *f);

#endif
