/*
 * msg_send.c: hands a finished writer to a connection (see proto.h). Apart
 * from proto.c so that code which only encodes and decodes (tests, the
 * fuzzer) does not pull in the transport layer.
 */
#include "kafka/proto.h"

int kp_w_send(kp_io_t *io, ks_conn_t *conn)
{
	size_t off = 0, i;
	int rc = 0;
	if (io->err)
		return io->err;
	for (i = 0; i < io->n_refs; i++) {
		kp_ref_t *r = &io->refs[i];
		if (!rc && r->pos > off) {
			rc = ks_conn_send(conn, io->buf + off, r->pos - off);
			off = r->pos;
		}
		/* Handed over either way: ks_conn_send_ref releases on error,
		 * and after a failure we release here. */
		if (!rc) {
			rc = ks_conn_send_ref(conn, r->p, r->len, r->release, r->arg);
		} else if (r->release) {
			r->release(r->arg);
		}
		r->release = NULL;
	}
	if (!rc && io->len > off)
		rc = ks_conn_send(conn, io->buf + off, io->len - off);
	return rc;
}
