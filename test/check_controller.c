/*
 * check_controller.c: three Raft controllers in one process on loopback:
 * a leader, replicated metadata, fencing by heartbeats, failover,
 * catching up after a restart, and no commits without a majority.
 */
#define _GNU_SOURCE
#include "util.h"

#include "replication/meta.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 3

static char *dir;
static char voters[256];
static struct ks__ctl *ctl[N + 1];     /* by node id 1..N */
static pthread_mutex_t ctl_mu = PTHREAD_MUTEX_INITIALIZER;
static atomic_int beating[N + 1];      /* ids the heartbeat thread sends */
static atomic_int hb_stop;

static void setup(void)
{
	int i;
	size_t off = 0;

	dir = kt_tmpdir("controller");
	for (i = 1; i <= N; i++)
		off += (size_t)snprintf(voters + off, sizeof voters - off,
		    "%s%d@127.0.0.1:%d", i > 1 ? "," : "", i, kt_free_port());
	memset(ctl, 0, sizeof ctl);
	for (i = 0; i <= N; i++)
		atomic_store(&beating[i], 0);
}

static void teardown(void)
{
	int i;

	for (i = 1; i <= N; i++) {
		ks__ctl_stop(ctl[i]);
		ctl[i] = NULL;
	}
	kt_rmrf(dir);
	free(dir);
}

static void start(int id)
{
	struct ks__ctl_config cfg = { 0 };
	char sub[32];
	char *d;
	struct ks__ctl *c;

	snprintf(sub, sizeof sub, "raft%d", id);
	d = kt_path(dir, sub);
	cfg.node_id = id;
	cfg.voters = voters;
	cfg.dir = d;
	cfg.election_timeout_ms = 400;
	cfg.session_timeout_ms = 1000;
	KT_OK(ks__ctl_start(&cfg, &c));
	free(d);
	pthread_mutex_lock(&ctl_mu);
	ctl[id] = c;
	pthread_mutex_unlock(&ctl_mu);
}

static void stop(int id)
{
	struct ks__ctl *c;

	pthread_mutex_lock(&ctl_mu);
	c = ctl[id];
	ctl[id] = NULL;
	pthread_mutex_unlock(&ctl_mu);
	ks__ctl_stop(c);
}

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

/* The leader every running controller agrees on and that leads itself. */
static int wait_leader(int timeout_ms)
{
	int64_t end = kt_now_ns() + (int64_t)timeout_ms * 1000000;

	while (kt_now_ns() < end) {
		int i, l = -1, agree = 1;

		for (i = 1; i <= N; i++) {
			int32_t x;

			if (!ctl[i])
				continue;
			x = ks__ctl_leader(ctl[i]);
			if (l == -1)
				l = x;
			agree &= x == l;
		}
		if (agree && l > 0 && ctl[l] && ks__ctl_leader(ctl[l]) == l)
			return l;
		sleep_ms(20);
	}
	return -1;
}

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done, rc;
	int abandoned;              /* the submitter gave up: the callback
	                               frees it */
};

static void done_cb(void *arg, int rc)
{
	struct waiter *w = arg;

	int gone;

	pthread_mutex_lock(&w->mu);
	w->rc = rc;
	w->done = 1;
	gone = w->abandoned;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	if (gone)
		free(w);
}

/* Submits cmd (freed) on controller id and waits up to timeout_ms:
 * its outcome, or KS_ETIMEDOUT (the callback, which must still come,
 * frees the waiter then). */
static int submit_wait(int id, struct ks__rcmd *cmd, int timeout_ms)
{
	struct waiter *w = calloc(1, sizeof *w);
	struct timespec ts;
	int rc;

	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	rc = ks__ctl_submit(ctl[id], cmd, done_cb, w);
	free(cmd->p);
	if (rc) {
		free(w);
		return rc;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&w->mu);
	while (!w->done && pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0)
		;
	rc = w->done ? w->rc : KS_ETIMEDOUT;
	w->abandoned = !w->done;
	pthread_mutex_unlock(&w->mu);
	if (rc != KS_ETIMEDOUT)
		free(w);
	return rc;
}

/* Submits until one leader takes it (leadership may move meanwhile). */
static void submit_ok(struct ks__rcmd *cmd)
{
	int64_t end = kt_now_ns() + 10000000000LL;
	int rc = KS_EBUSY;

	while (kt_now_ns() < end) {
		int l = wait_leader(10000);
		struct ks__rcmd copy = { malloc(cmd->len), cmd->len };

		ck_assert_int_gt(l, 0);
		memcpy(copy.p, cmd->p, cmd->len);
		rc = submit_wait(l, &copy, 5000);
		if (rc != KS_EBUSY)
			break;
		sleep_ms(50);
	}
	free(cmd->p);
	ck_assert_msg(rc == 0, "submit: %s", ks_strerror(rc));
}

static void reg(int id)
{
	struct ks__rendpoint ep = { "tcp", "127.0.0.1", 9000 + id };
	struct ks__rcmd c;

	KT_OK(ks__rcmd_register(&c, id, 0, &ep, 1));
	submit_ok(&c);
}

static void create_topic(const char *name)
{
	struct ks__rimage *img;
	struct ks__rcmd c;
	int32_t r[3 * N];
	int l = wait_leader(10000);

	ck_assert_int_gt(l, 0);
	img = ks__ctl_image(ctl[l]);
	KT_OK(ks__rassign(img, 0, 3, N, r));
	ks__rimage_unref(img);
	KT_OK(ks__rcmd_create_topic(&c, name, "", 3, N, r));
	submit_ok(&c);
}

/* Whether every running controller's image encodes to the same bytes and
 * satisfies pred (NULL: anything). */
static int all_agree(int (*pred)(const struct ks__rimage *, void *),
    void *arg)
{
	struct ks__rcmd first = { 0 };
	int i, ok = 1;

	for (i = 1; i <= N && ok; i++) {
		struct ks__rimage *img;
		struct ks__rcmd e;

		if (!ctl[i])
			continue;
		img = ks__ctl_image(ctl[i]);
		KT_OK(ks__rimage_encode(img, &e));
		if (pred && !pred(img, arg))
			ok = 0;
		ks__rimage_unref(img);
		if (!first.p)
			first = e;
		else {
			ok &= e.len == first.len && !memcmp(e.p, first.p, e.len);
			free(e.p);
		}
	}
	free(first.p);
	return ok;
}

/* What each controller holds, for a failure's message. */
static void dump(void)
{
	int i;

	for (i = 1; i <= N; i++) {
		struct ks__rimage *img;

		if (!ctl[i])
			continue;
		img = ks__ctl_image(ctl[i]);
		fprintf(stderr, "node %d: leader %d applied %llu brokers %d "
		    "topics %d\n", i, ks__ctl_leader(ctl[i]),
		    (unsigned long long)img->applied, img->nbrokers,
		    img->ntopics);
		ks__rimage_unref(img);
	}
}

static int wait_agree(int (*pred)(const struct ks__rimage *, void *),
    void *arg, int timeout_ms)
{
	int64_t end = kt_now_ns() + (int64_t)timeout_ms * 1000000;

	while (kt_now_ns() < end) {
		if (all_agree(pred, arg))
			return 1;
		sleep_ms(20);
	}
	dump();
	return 0;
}

static int has_topic(const struct ks__rimage *img, void *name)
{
	return ks__rimage_topic(img, name) != NULL && img->nbrokers == N;
}

/* Member *id is fenced (or live, as *want says) and leads nothing. */
struct fstate {
	int32_t id;
	int fenced;
};

static int fenced_as(const struct ks__rimage *img, void *arg)
{
	struct fstate *f = arg;
	const struct ks__rbroker *b = ks__rimage_broker(img, f->id);
	int32_t t, p;

	if (!b || b->fenced != f->fenced)
		return 0;
	if (!f->fenced)
		return 1;
	for (t = 0; t < img->ntopics; t++)
		for (p = 0; p < img->topics[t].nparts; p++) {
			const struct ks__rpart *pp = &img->topics[t].parts[p];

			if (pp->leader == f->id || pp->leader < 0 ||
			    ks__rpart_in_isr(pp, f->id))
				return 0;
		}
	return 1;
}

static void *heartbeats(void *arg)
{
	while (!hb_stop) {
		int i, j;

		pthread_mutex_lock(&ctl_mu);
		for (i = 1; i <= N; i++)
			for (j = 1; j <= N; j++)
				if (ctl[i] && beating[j])
					ks__ctl_heartbeat(ctl[i], j);
		pthread_mutex_unlock(&ctl_mu);
		sleep_ms(100);
	}
	return NULL;
}

START_TEST(bad_config)
{
	struct ks__ctl_config cfg = { 0 };
	struct ks__ctl *c = (void *)1;
	char *d = kt_path(dir, "bad");

	cfg.dir = d;
	cfg.node_id = 4;
	cfg.voters = voters;
	ck_assert_int_eq(ks__ctl_start(&cfg, &c), KS_EINVAL);
	ck_assert_ptr_null(c);
	cfg.node_id = 1;
	cfg.voters = "1@127.0.0.1";
	ck_assert_int_eq(ks__ctl_start(&cfg, &c), KS_EINVAL);
	cfg.voters = "x@127.0.0.1:1";
	ck_assert_int_eq(ks__ctl_start(&cfg, &c), KS_EINVAL);
	cfg.voters = "1@127.0.0.1:1,1@127.0.0.1:2";
	ck_assert_int_eq(ks__ctl_start(&cfg, &c), KS_EINVAL);
	cfg.voters = "";
	ck_assert_int_eq(ks__ctl_start(&cfg, &c), KS_EINVAL);
	ks__ctl_stop(NULL);
	free(d);
}
END_TEST

START_TEST(start_stop_at_once)
{
	struct ks__rimage *img;

	start(1);
	ck_assert_int_eq(ks__ctl_nvoters(ctl[1]), N);
	ck_assert_int_eq(ks__ctl_voter(ctl[1], 2), 3);
	ck_assert_int_eq(ks__ctl_voter(ctl[1], 3), -1);
	img = ks__ctl_image(ctl[1]);
	ck_assert_ptr_nonnull(img);
	ck_assert_int_eq(img->nbrokers, 0);
	ks__rimage_unref(img);
	/* alone it cannot lead: submits are refused at once */
	{
		struct ks__rcmd c;

		KT_OK(ks__rcmd_fence(&c, 1));
		ck_assert_int_eq(ks__ctl_submit(ctl[1], &c, NULL, NULL),
		    KS_EBUSY);
		free(c.p);
	}
	stop(1);
}
END_TEST

START_TEST(quorum)
{
	int l, i, victim, follower;
	pthread_t hb;
	struct fstate f;
	struct ks__rimage *img;
	struct ks__rcmd c;
	uint64_t applied;

	for (i = 1; i <= N; i++)
		start(i);
	l = wait_leader(10000);
	ck_assert_msg(l > 0, "no leader in 10 s");

	for (i = 1; i <= N; i++)
		reg(i);
	create_topic("t");
	ck_assert_msg(wait_agree(has_topic, "t", 5000),
	    "the images differ");
	img = ks__ctl_image(ctl[1]);
	ck_assert_int_gt(img->applied, 0);
	ks__rimage_unref(img);

	/* a follower refuses at once */
	l = wait_leader(10000);
	follower = l % N + 1;
	KT_OK(ks__rcmd_fence(&c, 1));
	ck_assert_int_eq(ks__ctl_submit(ctl[follower], &c, NULL, NULL),
	    KS_EBUSY);
	free(c.p);

	/* heartbeats from all but one follower: it gets fenced everywhere,
	 * its partitions led by others; then it beats again: unfenced */
	victim = follower;
	for (i = 1; i <= N; i++)
		beating[i] = i != victim;
	hb_stop = 0;
	ck_assert_int_eq(pthread_create(&hb, NULL, heartbeats, NULL), 0);
	f.id = victim;
	f.fenced = 1;
	ck_assert_msg(wait_agree(fenced_as, &f, 8000),
	    "node %d not fenced", victim);
	beating[victim] = 1;
	f.fenced = 0;
	ck_assert_msg(wait_agree(fenced_as, &f, 8000),
	    "node %d not unfenced", victim);

	/* the leader stops: another leads and takes commands */
	l = wait_leader(10000);
	stop(l);
	i = wait_leader(10000);
	ck_assert_msg(i > 0 && i != l, "no new leader");
	create_topic("after");
	img = ks__ctl_image(ctl[wait_leader(10000)]);
	ck_assert_ptr_nonnull(ks__rimage_topic(img, "after"));
	ks__rimage_unref(img);

	/* it comes back from its directory and catches up */
	start(l);
	ck_assert_msg(wait_agree(has_topic, "after", 10000),
	    "node %d did not catch up", l);

	/* two of three stop: nothing commits */
	hb_stop = 1;
	pthread_join(hb, NULL);
	i = wait_leader(10000);
	ck_assert_int_gt(i, 0);
	/* the leader is the one left: it may believe it leads a while */
	for (l = 1; l <= N; l++)
		if (l != i)
			stop(l);
	l = i;
	sleep_ms(300);
	img = ks__ctl_image(ctl[l]);
	applied = img->applied;
	ks__rimage_unref(img);
	KT_OK(ks__rcmd_delete_topic(&c, "t"));
	i = submit_wait(l, &c, 3000);
	ck_assert_msg(i != 0, "committed without a majority");
	img = ks__ctl_image(ctl[l]);
	ck_assert_int_eq(img->applied, applied);
	ck_assert_ptr_nonnull(ks__rimage_topic(img, "t"));
	ks__rimage_unref(img);
}
END_TEST

Suite *controller_suite(void)
{
	Suite *s = suite_create("controller");
	TCase *tc = tcase_create("raft");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, bad_config);
	tcase_add_test(tc, start_stop_at_once);
	tcase_add_test(tc, quorum);
	suite_add_tcase(s, tc);
	return s;
}
