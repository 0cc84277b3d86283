/* The API's check of an HTTP request head, made before libmicrohttpd
 * reads the connection (front.c).
 *
 * libmicrohttpd answers the requests it cannot parse itself, with HTML
 * and no hook to change it. So the front door checks each request head
 * first, more strictly than the library does, and answers what it
 * refuses with the API's {"fault_message": ...}: whatever passes here
 * the library parses without an error page of its own. Pure: no I/O, any
 * thread. */
#ifndef CORRAL_API_HTTP_HEAD_H
#define CORRAL_API_HTTP_HEAD_H

#include <stddef.h>

#include "api/api.h"

#define HTTP_MAX_METHOD 16
/* The request line: method, target (at most API_MAX_URL), version. */
#define HTTP_MAX_REQUEST_LINE (HTTP_MAX_METHOD + 1 + API_MAX_URL + 1 + 8 + 2)
/* The header lines, their line ends and the blank line included. */
#define HTTP_MAX_HEADER_BYTES 8192
/* The most of a connection's first bytes the check ever needs. */
#define HTTP_MAX_HEAD (HTTP_MAX_REQUEST_LINE + HTTP_MAX_HEADER_BYTES)

enum http_head_result {
    HTTP_HEAD_BAD = -1,  /* refused: rep holds the status and the reason */
    HTTP_HEAD_MORE = 0,  /* well-formed so far: wait for more bytes */
    HTTP_HEAD_OK = 1,    /* a complete head the library will accept */
};

/* Check the first `len` bytes a client sent. Accepted: a request line
 * "METHOD SP target SP HTTP/1.x" (1.0 or 1.1: else 505; a target over
 * API_MAX_URL: 414), header lines "name: value" with a token name and no
 * control bytes but tab (no folded lines), each ending in CRLF or LF;
 * headers over HTTP_MAX_HEADER_BYTES: 431; HTTP/1.1 needs Host; at most
 * one Content-Length, decimal and at most API_MAX_BODY (else 413); no
 * Transfer-Encoding (411: bodies come with a Content-Length). */
enum http_head_result http_head_check(const char *buf, size_t len, struct api_reply *rep);

#endif
