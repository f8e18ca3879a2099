/*
 * broker.c: kstream-broker, a Kafka-protocol broker serving a store.
 *
 *   kstream-broker --dir DIR [--listen URL]... [--tls-cert F --tls-key F
 *       [--tls-ca F] [--tls-verify-client]] [--node-id N]
 *       [--advertised-host H] [--metrics URL] [--config FILE]
 *       [--voters ID@HOST:PORT,... [--raft-dir DIR]] [--set key=value]...
 *
 * Settings use Kafka's names (num.partitions, auto.create.topics.enable,
 * node.id, advertised.host.name and every topic property as the store's
 * topic defaults), from a file of key=value lines and from --set, applied
 * in the order given; metrics=URL (or --metrics) serves the broker's
 * metrics over HTTP (ks_kafka_server_metrics_listen). With
 * controller.quorum.voters (or --voters) the broker is a cluster member
 * (ks_cluster_new), and the cluster's properties (min.insync.replicas,
 * default.replication.factor, broker.session.timeout.ms, ...) apply. The
 * library does the work: this is ks_store_open, ks_kafka_server_new,
 * ks_kafka_server_listen, maybe ks_cluster_new, and a wait for a signal.
 * See kstream-broker(1).
 *
 *   cc -o kstream-broker broker.c $(pkg-config --cflags --libs kstream)
 */
#define _GNU_SOURCE
#include <kstream/kstream.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LISTENERS 16

static ks_store_config_t store_cfg;
static ks_kafka_server_config_t srv_cfg;
static char *adv_host; /* owned copy of advertised.host.name */
static char *metrics_url; /* owned copy of metrics= / --metrics */
static ks_cluster_config_t cluster_cfg;
static char *cluster_strs[2]; /* owned copies: voters, metadata.log.dir */

/* The library's messages: notices (refused requests, closed connections)
 * and worse, to stderr. */
static void log_stderr(void *opaque, int level, const char *msg)
{
	(void)opaque;
	if (level <= KS_LOG_NOTICE)
		fprintf(stderr, "kstream-broker: %s\n", msg);
}

/* Bad usage: one line on stderr, exit status 2. */
static void usage(const char *why, const char *arg)
{
	fprintf(stderr, "kstream-broker: %s%s%s (usage: kstream-broker --dir "
	    "DIR [--listen URL]... [options]; see kstream-broker(1))\n", why,
	    arg ? " " : "", arg ? arg : "");
	exit(2);
}

static int parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* One key=value setting; an error message in why, or 0. */
static int set_option(const char *key, const char *value, const char **why)
{
	long v;

	if (!strcmp(key, "num.partitions")) {
		if (parse_int(value, 1, INT32_MAX, &v))
			return *why = "num.partitions: expected 1 or more", -1;
		srv_cfg.num_partitions = (int32_t)v;
		store_cfg.topic_defaults.partitions = (int32_t)v;
	} else if (!strcmp(key, "auto.create.topics.enable")) {
		if (strcmp(value, "true") && strcmp(value, "false"))
			return *why = "auto.create.topics.enable: true or false", -1;
		srv_cfg.auto_create_topics = !strcmp(value, "true");
	} else if (!strcmp(key, "node.id") || !strcmp(key, "broker.id")) {
		if (parse_int(value, 0, INT32_MAX, &v))
			return *why = "node.id: expected 0 or more", -1;
		srv_cfg.node_id = (int32_t)v;
		cluster_cfg.node_id = (int32_t)v;
	} else if (!strcmp(key, "advertised.host.name")) {
		free(adv_host);
		if (!(adv_host = strdup(value)))
			return *why = "out of memory", -1;
		srv_cfg.advertised_host = adv_host;
	} else if (!strcmp(key, "metrics")) {
		if (strncmp(value, "http://", 7))
			return *why = "metrics: expected http://host:port/path",
			    -1;
		free(metrics_url);
		if (!(metrics_url = strdup(value)))
			return *why = "out of memory", -1;
	} else if (!strcmp(key, "controller.quorum.voters") ||
	    !strcmp(key, "metadata.log.dir")) {
		int k = key[0] == 'm';
		free(cluster_strs[k]);
		if (!(cluster_strs[k] = strdup(value)))
			return *why = "out of memory", -1;
		if (ks_cluster_config_set(&cluster_cfg, key, cluster_strs[k]))
			return *why = "bad value", -1;
	} else if (ks_cluster_config_set(&cluster_cfg, key, value) == 0) {
		/* a cluster property (kstream-cluster(7)) */
	} else if (ks_topic_config_set(&store_cfg.topic_defaults, key,
	    value) != 0) {
		return *why = "unknown property or bad value", -1;
	}
	return 0;
}

static void set_arg(const char *kv)
{
	char key[256];
	const char *eq = strchr(kv, '='), *why;

	if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
		usage("--set wants key=value", NULL);
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = '\0';
	if (set_option(key, eq + 1, &why)) {
		fprintf(stderr, "kstream-broker: --set %s: %s\n", kv, why);
		exit(2);
	}
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/* The config file: key=value lines, blank lines and # comments. */
static void read_config(const char *path)
{
	char line[4096], *p, *eq;
	const char *why;
	FILE *f;
	int n = 0;

	if (!(f = fopen(path, "r"))) {
		fprintf(stderr, "kstream-broker: %s: %s\n", path,
		    strerror(errno));
		exit(2);
	}
	while (fgets(line, sizeof line, f)) {
		n++;
		p = trim(line);
		if (!*p || *p == '#')
			continue;
		if (!(eq = strchr(p, '='))) {
			fprintf(stderr, "kstream-broker: %s:%d: expected "
			    "key=value\n", path, n);
			exit(2);
		}
		*eq = '\0';
		if (set_option(trim(p), trim(eq + 1), &why)) {
			fprintf(stderr, "kstream-broker: %s:%d: %s: %s\n", path,
			    n, trim(p), why);
			exit(2);
		}
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *listen[MAX_LISTENERS];
	ks_tls_config_t tls;
	ks_kafka_server_t *srv;
	ks_cluster_t *cluster = NULL;
	ks_store_t *store;
	int nlisten = 0, i, rc, sig;
	sigset_t set;
	long v;

	ks_store_config_init(&store_cfg);
	store_cfg.flags = KS_STORE_CREATE;
	store_cfg.log_cb = log_stderr; /* the server's too */
	ks_kafka_server_config_init(&srv_cfg);
	ks_cluster_config_init(&cluster_cfg);
	ks_tls_config_init(&tls, 1);

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = strcmp(a, "--tls-verify-client") != 0;

		static const char *const known[] = { "--dir", "--listen",
			"--tls-cert", "--tls-key", "--tls-ca",
			"--tls-verify-client", "--node-id",
			"--advertised-host", "--metrics", "--config", "--set",
			"--voters", "--raft-dir", NULL };
		const char *const *k;

		for (k = known; *k && strcmp(*k, a); k++)
			;
		if (!*k)
			usage("unknown argument", a);
		if (takes && !val)
			usage("a value is missing after", a);
		if (!strcmp(a, "--dir"))
			dir = val;
		else if (!strcmp(a, "--listen")) {
			if (nlisten == MAX_LISTENERS)
				usage("too many listeners", NULL);
			listen[nlisten++] = val;
		} else if (!strcmp(a, "--tls-cert"))
			tls.cert_file = val;
		else if (!strcmp(a, "--tls-key"))
			tls.key_file = val;
		else if (!strcmp(a, "--tls-ca"))
			tls.ca_file = val;
		else if (!strcmp(a, "--tls-verify-client"))
			tls.verify_peer = 1;
		else if (!strcmp(a, "--node-id")) {
			if (parse_int(val, 0, INT32_MAX, &v))
				usage("--node-id wants a number >= 0", NULL);
			srv_cfg.node_id = (int32_t)v;
			cluster_cfg.node_id = (int32_t)v;
		} else if (!strcmp(a, "--voters") || !strcmp(a, "--raft-dir")) {
			const char *why;
			if (set_option(a[2] == 'v' ? "controller.quorum.voters" :
			    "metadata.log.dir", val, &why))
				usage(why, NULL);
		} else if (!strcmp(a, "--advertised-host"))
			srv_cfg.advertised_host = val;
		else if (!strcmp(a, "--metrics")) {
			const char *why;
			if (set_option("metrics", val, &why))
				usage(why, NULL);
		} else if (!strcmp(a, "--config"))
			read_config(val);
		else /* --set */
			set_arg(val);
		i += takes;
	}
	if (!dir)
		usage("--dir is required", NULL);
	if (!nlisten)
		listen[nlisten++] = "tcp://127.0.0.1:9092";
	if ((tls.cert_file == NULL) != (tls.key_file == NULL))
		usage("--tls-cert and --tls-key go together", NULL);

	/* Block the signals before any thread starts, so every thread of
	 * the library inherits the mask and sigwait below gets them. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if ((rc = ks_store_open(dir, &store_cfg, &store)) != 0) {
		fprintf(stderr, "kstream-broker: %s: %s\n", dir,
		    ks_strerror(rc));
		return 1;
	}
	if ((rc = ks_kafka_server_new(store, &srv_cfg, &srv)) != 0) {
		fprintf(stderr, "kstream-broker: server: %s\n",
		    ks_strerror(rc));
		ks_store_close(store);
		return 1;
	}
	for (i = 0; i < nlisten; i++) {
		char url[512];
		int is_tls = !strncmp(listen[i], "tls+tcp://", 10);

		if (is_tls && !tls.cert_file) {
			fprintf(stderr, "kstream-broker: %s needs --tls-cert "
			    "and --tls-key\n", listen[i]);
			rc = KS_EINVAL;
		} else {
			rc = ks_kafka_server_listen(srv, listen[i],
			    is_tls ? &tls : NULL);
			if (rc)
				fprintf(stderr, "kstream-broker: %s: %s\n",
				    listen[i], ks_strerror(rc));
		}
		if (rc) {
			ks_kafka_server_free(srv);
			ks_store_close(store);
			return 1;
		}
		ks_kafka_server_url(srv, i, url, sizeof url);
		printf("listening on %s\n", url);
		fflush(stdout);
	}
	if (metrics_url) {
		char url[640];

		rc = ks_kafka_server_metrics_listen(srv, metrics_url);
		if (rc == 0)
			rc = ks_kafka_server_metrics_url(srv, url, sizeof url);
		if (rc) {
			fprintf(stderr, "kstream-broker: metrics %s: %s\n",
			    metrics_url, ks_strerror(rc));
			ks_kafka_server_free(srv);
			ks_store_close(store);
			return 1;
		}
		printf("metrics on %s\n", url);
		fflush(stdout);
	}

	sig = 0;
	if (cluster_cfg.voters) {
		/* Replicas fetch from leaders over the first listener: a
		 * TLS one is dialled with the broker's own certificate and
		 * CA (mutual TLS between members when clients are checked). */
		ks_tls_config_t ctls;
		siginfo_t info;
		struct timespec ts = { 0, 0 };

		ks_tls_config_init(&ctls, 0);
		ctls.cert_file = tls.cert_file;
		ctls.key_file = tls.key_file;
		ctls.ca_file = tls.ca_file;
		cluster_cfg.tls = tls.cert_file ? &ctls : NULL;
		if ((rc = ks_cluster_new(srv, &cluster_cfg, &cluster)) != 0) {
			fprintf(stderr, "kstream-broker: cluster: %s\n",
			    ks_strerror(rc));
			ks_kafka_server_free(srv);
			ks_store_close(store);
			return 1;
		}
		/* "ready" once registered with a controller and every
		 * partition it knows has a leader; a signal stops it. */
		while (ks_cluster_wait(cluster, 200) != 0)
			if ((sig = sigtimedwait(&set, &info, &ts)) > 0)
				break;
		if (sig <= 0) {
			sig = 0;
			printf("cluster member %d ready\n",
			    (int)cluster_cfg.node_id);
			fflush(stdout);
		}
	}
	while (sig <= 0) {
		do
			rc = sigwait(&set, &sig);
		while (rc == EINTR);
	}
	fprintf(stderr, "kstream-broker: %s, shutting down\n",
	    sig == SIGINT ? "SIGINT" : "SIGTERM");
	ks_cluster_free(cluster);
	ks_kafka_server_free(srv);
	rc = ks_store_close(store);
	free(adv_host);
	free(metrics_url);
	free(cluster_strs[0]);
	free(cluster_strs[1]);
	if (rc) {
		fprintf(stderr, "kstream-broker: closing %s: %s\n", dir,
		    ks_strerror(rc));
		return 1;
	}
	return 0;
}
