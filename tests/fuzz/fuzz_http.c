/* libFuzzer target for what an HTTP client sends the scheduler's web
 * front: a request head (web_parse_head), then, when it parses, its path
 * and query made into the client request it mirrors (web_route, with its
 * percent-decoding and numbers). Any input must be refused or accepted
 * without crashing, leaking or undefined behaviour; an accepted API path
 * must encode a request that decodes again as its type. Build and run: see
 * README.md in this directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/web_http.h"
#include "scheduler/web_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > WEB_HEADERS_MAX)
        return 0;
    /* as the server holds it: the bytes up to the blank line, terminated */
    char *head = malloc(size + 5);
    if (!head)
        return 0;
    memcpy(head, data, size);
    memcpy(head + size, "\r\n\r\n", 5);
    web_head_t h;
    const char *why = NULL;
    int st = web_parse_head(head, &h, &why);
    if (st != 0 && (!why || !*why))
        abort(); /* a refusal always says why */
    if (st == 0 && !strncmp(h.path, "/api/v1", 7)) {
        web_call_t call;
        char msg[512];
        if (web_route(h.path + 7, h.query, 1700000000000, &call, msg, sizeof(msg)) == 0 &&
            call.kind != WEB_WHOAMI) {
            cairn_msg_type_t type;
            ProtobufCMessage *m = NULL;
            cairn_error_t err = {{0}};
            if (cairn_msg_decode(call.req, call.req_len, 0, &type, &m, &err) < 0 ||
                type != call.type)
                abort();
            cairn_msg_free(m);
        }
        free(call.req);
    }
    free(head);
    return 0;
}
