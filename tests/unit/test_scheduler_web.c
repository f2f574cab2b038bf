/* The web front's way into the loop (scheduler/web.h): a WebRequest names
 * the user it acts for, so the scheduler honours it only on its private
 * inproc:// endpoint. Sent by any real client (here over ipc://, as a
 * local user claiming to be root) it is refused, and the inner request is
 * not handled. The HTTP side of the same rule is tests/cli/web_api.sh. */
#include "sched_harness.h"

static ProtobufCMessage *raw_call(const char *url, const uint8_t *buf, size_t len,
                                  cairn_msg_type_t *type)
{
    nng_socket sock;
    cr_assert_eq(nng_req0_open(&sock), 0);
    nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 20000);
    nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO, 20000);
    int64_t deadline = cairn_mono_ms() + 20000;
    int rv;
    while ((rv = nng_dial(sock, url, NULL, 0)) != 0 && cairn_mono_ms() < deadline)
        usleep(20000); /* polling a condition with a deadline: the socket appears */
    cr_assert_eq(rv, 0, "dial %s: %s", url, nng_strerror(rv));
    cr_assert_eq(nng_send(sock, (void *)buf, len, 0), 0);
    void *rbuf = NULL;
    size_t rlen = 0;
    rv = nng_recv(sock, &rbuf, &rlen, NNG_FLAG_ALLOC);
    cr_assert_eq(rv, 0, "no answer: %s", nng_strerror(rv));
    ProtobufCMessage *m = NULL;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_msg_decode(rbuf, rlen, 0, type, &m, &err), 0, "%s", err.text);
    nng_free(rbuf, rlen);
    nng_close(sock);
    return m;
}

Test(web, a_web_request_from_a_real_client_is_refused)
{
    h_sched_t s;
    h_sched_init(&s);
    const char *args[] = {"--http", "127.0.0.1:0", NULL};
    h_sched_start(&s, args);
    /* the inner request: everyone's audit entries, which only an
     * administrator may read; the wrapper claims root */
    Cairn__AuditRequest aq = CAIRN__AUDIT_REQUEST__INIT;
    uint8_t *inner = NULL, *buf = NULL;
    size_t ilen = 0, len = 0;
    cairn_error_t err = {{0}};
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_AUDIT, &aq.base, &inner, &ilen, &err), 0);
    Cairn__WebRequest w = CAIRN__WEB_REQUEST__INIT;
    w.user = "root";
    w.request.data = inner;
    w.request.len = ilen;
    cr_assert_eq(cairn_msg_encode(CAIRN_MSG_WEB, &w.base, &buf, &len, &err), 0);
    cairn_msg_type_t type;
    ProtobufCMessage *m = raw_call(s.clients, buf, len, &type);
    cr_assert_eq(type, CAIRN_MSG_ERROR, "a WebRequest over ipc:// was answered: %s",
                 cairn_msg_type_name(type));
    const Cairn__ErrorReply *er = (const Cairn__ErrorReply *)m;
    cr_assert_eq(er->code, CAIRN__ERROR_CODE__ERROR_CODE_PERMISSION_DENIED);
    cr_assert(strstr(er->message, "only from the scheduler's own HTTP server"), "%s", er->message);
    cairn_msg_free(m);
    /* the same inner request, sent plainly, is handled (the scheduler
     * still answers, and refused nothing else) */
    m = raw_call(s.clients, inner, ilen, &type);
    cr_assert_eq(type, CAIRN_MSG_AUDIT_REPLY, "%s", cairn_msg_type_name(type));
    cairn_msg_free(m);
    free(inner);
    free(buf);
    h_sched_fini(&s);
}
