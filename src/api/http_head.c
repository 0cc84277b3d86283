/* The request-head check (http_head.h). Messages never quote the
 * client's bytes: they may not be UTF-8, which a JSON reply cannot carry. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "api/http_head.h"

/* RFC 9110's token characters. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c && strchr("!#$%&'*+-.^_`|~", c);
}

/* The end of the line that starts at p: the offset of its LF, or -1. */
static long line_end(const char *buf, size_t p, size_t len)
{
    const char *nl = memchr(buf + p, '\n', len - p);
    return nl ? (long)(nl - buf) : -1;
}

static enum http_head_result bad(struct api_reply *rep, unsigned status, const char *why)
{
    api_reply_fault(rep, status, "%s", why);
    return HTTP_HEAD_BAD;
}

/* The request line [p, e) (its CR, if any, not included). */
static enum http_head_result check_request_line(const char *s, size_t n, bool *v11,
                                                struct api_reply *rep)
{
    size_t m = 0;
    while (m < n && is_tchar((unsigned char)s[m]))
        m++;
    if (m == 0 || m > HTTP_MAX_METHOD || m == n || s[m] != ' ')
        return bad(rep, 400, "malformed request line: want METHOD SP target SP HTTP/1.1");
    size_t t = m + 1, u = t;
    while (u < n && (unsigned char)s[u] > ' ' && (unsigned char)s[u] != 0x7f)
        u++;
    if (u == t || u == n || s[u] != ' ')
        return bad(rep, 400, "malformed request line: want METHOD SP target SP HTTP/1.1");
    if (u - t > API_MAX_URL) {
        api_reply_fault(rep, 414, "URI over %d bytes", API_MAX_URL);
        return HTTP_HEAD_BAD;
    }
    const char *v = s + u + 1;
    size_t vn = n - u - 1;
    if (vn != 8 || memcmp(v, "HTTP/", 5) || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return bad(rep, 400, "malformed request line: want METHOD SP target SP HTTP/1.1");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return bad(rep, 505, "HTTP version not supported (HTTP/1.0 or 1.1 only)");
    *v11 = v[7] == '1';
    return HTTP_HEAD_OK;
}

struct head_seen {
    bool host, length, encoding;
};

/* A Content-Length value, its surrounding blanks included. */
static enum http_head_result check_length(const char *v, size_t n, struct api_reply *rep)
{
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0)
        return bad(rep, 400, "Content-Length is empty");
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return bad(rep, 400, "Content-Length is not a decimal number");
        if (x <= API_MAX_BODY)
            x = x * 10 + (uint64_t)(v[i] - '0');
    }
    if (x > API_MAX_BODY) {
        api_reply_fault(rep, 413, "request body over %d bytes", API_MAX_BODY);
        return HTTP_HEAD_BAD;
    }
    return HTTP_HEAD_OK;
}

/* One header line s[0, n) (its CR, if any, not included). */
static enum http_head_result check_header(const char *s, size_t n, struct head_seen *seen,
                                          struct api_reply *rep)
{
    if (s[0] == ' ' || s[0] == '\t')
        return bad(rep, 400, "folded (continued) header lines are not accepted");
    size_t c = 0;
    while (c < n && is_tchar((unsigned char)s[c]))
        c++;
    if (c == 0 || c == n || s[c] != ':')
        return bad(rep, 400, "malformed header line: want name: value");
    for (size_t i = c + 1; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < ' ' && ch != '\t') || ch == 0x7f)
            return bad(rep, 400, "a header value holds a control character");
    }
    const char *v = s + c + 1;
    size_t vn = n - c - 1;
    if (c == 4 && !strncasecmp(s, "Host", 4)) {
        seen->host = true;
    } else if (c == 14 && !strncasecmp(s, "Content-Length", 14)) {
        if (seen->length)
            return bad(rep, 400, "more than one Content-Length");
        seen->length = true;
        return check_length(v, vn, rep);
    } else if (c == 17 && !strncasecmp(s, "Transfer-Encoding", 17)) {
        seen->encoding = true;
    }
    return HTTP_HEAD_OK;
}

/* An unfinished request line that cannot become a request: refused at
 * once (a client speaking another protocol is not kept waiting). */
static bool method_prefix_bad(const char *buf, size_t len)
{
    size_t m = 0;
    while (m < len && m <= HTTP_MAX_METHOD && is_tchar((unsigned char)buf[m]))
        m++;
    return m < len && (m == 0 || m > HTTP_MAX_METHOD || buf[m] != ' ');
}

enum http_head_result http_head_check(const char *buf, size_t len, struct api_reply *rep)
{
    long e = line_end(buf, 0, len < HTTP_MAX_REQUEST_LINE ? len : HTTP_MAX_REQUEST_LINE);
    if (e < 0) {
        if (method_prefix_bad(buf, len))
            return bad(rep, 400, "malformed request line: want METHOD SP target SP HTTP/1.1");
        if (len < HTTP_MAX_REQUEST_LINE)
            return HTTP_HEAD_MORE;
        api_reply_fault(rep, 414, "URI over %d bytes", API_MAX_URL);
        return HTTP_HEAD_BAD;
    }
    size_t n = (size_t)e;
    if (n && buf[n - 1] == '\r')
        n--;
    if (memchr(buf, '\r', n) || memchr(buf, 0, n))
        return bad(rep, 400, "malformed request line: a stray CR or NUL");
    bool v11 = false;
    if (check_request_line(buf, n, &v11, rep) != HTTP_HEAD_OK)
        return HTTP_HEAD_BAD;

    struct head_seen seen = { 0 };
    size_t headers = (size_t)e + 1, p = headers;
    for (;;) {
        size_t limit = headers + HTTP_MAX_HEADER_BYTES;
        e = line_end(buf, p, len < limit ? len : limit);
        if (e < 0) {
            if (len < limit)
                return HTTP_HEAD_MORE;
            api_reply_fault(rep, 431, "request headers over %d bytes", HTTP_MAX_HEADER_BYTES);
            return HTTP_HEAD_BAD;
        }
        n = (size_t)e - p;
        if (n && buf[p + n - 1] == '\r')
            n--;
        if (memchr(buf + p, '\r', n) || memchr(buf + p, 0, n))
            return bad(rep, 400, "malformed header line: a stray CR or NUL");
        if (n == 0)
            break;
        if (check_header(buf + p, n, &seen, rep) != HTTP_HEAD_OK)
            return HTTP_HEAD_BAD;
        p = (size_t)e + 1;
    }
    if (v11 && !seen.host)
        return bad(rep, 400, "an HTTP/1.1 request needs a Host header");
    if (seen.encoding) {
        api_reply_fault(rep, 411, "Transfer-Encoding is not supported: send the body with "
                        "a Content-Length");
        return HTTP_HEAD_BAD;
    }
    return HTTP_HEAD_OK;
}
