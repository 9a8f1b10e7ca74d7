/*
 * The configuration's checks beyond one value: errors as "file:line",
 * endpoint URLs, keys and groups given twice, the metrics address, and
 * what libpq will make of the conninfo and its passfile. Each check adds
 * its errors and lets loading go on, so that one --check-config names
 * every problem.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/util.h>
#include <glib.h>

#include "config.h"
#include "config_int.h"
#include "util.h"

/* Errors ------------------------------------------------------------------- */

/* Where a group or the last of a key was written, for error messages. */
static int
source_line(const char *path, const char *group, const char *key)
{
	FILE *f;
	char line[4096];
	int n = 0, in_group = 0, found = 0;

	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = str_trim(line);

		n++;
		if (*s == '[') {
			char *end = strchr(s, ']');

			in_group = end != NULL &&
			    (size_t)(end - s - 1) == strlen(group) &&
			    strncmp(s + 1, group, strlen(group)) == 0;
			if (in_group && key == NULL) {
				found = n;
				break;
			}
		} else if (in_group && key != NULL) {
			size_t kl = strlen(key);

			/* GKeyFile keeps the last of equal keys: so does
			 * this, to point at the value that was read. */
			if (strncmp(s, key, kl) == 0 &&
			    (s[kl] == '=' || s[kl] == ' ' || s[kl] == '\t'))
				found = n;
		}
	}
	fclose(f);
	return found;
}

/*
 * Appends one line "file:line: [group] key: why" to *err. Loading goes
 * on after an error, so that one run of --check-config names them all.
 */
void
config_error_at(char **err, const char *path, int line, const char *group,
    const char *key, const char *why)
{
	char *msg, *joined;

	/* A database account: no file, and the row names the account. */
	if (path == NULL && key != NULL)
		msg = xasprintf("%s: %s", key, why);
	else if (path == NULL)
		msg = xstrdup(why);
	else if (key != NULL)
		msg = xasprintf(
		    "%s:%d: [%s] %s: %s", path, line, group, key, why);
	else if (group != NULL)
		msg = xasprintf("%s:%d: [%s]: %s", path, line, group, why);
	else if (line > 0)
		msg = xasprintf("%s:%d: %s", path, line, why);
	else
		msg = xasprintf("%s: %s", path, why);
	if (*err == NULL) {
		*err = msg;
		return;
	}
	joined = xasprintf("%s\n%s", *err, msg);
	free(*err);
	free(msg);
	*err = joined;
}

void
config_error(char **err, const char *path, const char *group, const char *key,
    const char *fmt, ...)
{
	va_list ap;
	char *why;

	va_start(ap, fmt);
	why = xvasprintf(fmt, ap);
	va_end(ap);
	config_error_at(err, path,
	    group && path ? source_line(path, group, key) : 0, group, key, why);
	free(why);
}

void
config_warning(
    struct config *c, const char *group, const char *key, const char *fmt, ...)
{
	va_list ap;
	char *why;

	va_start(ap, fmt);
	why = xvasprintf(fmt, ap);
	va_end(ap);
	config_error_at(&c->warnings, c->path, source_line(c->path, group, key),
	    group, key, why);
	free(why);
}

/* Endpoints ---------------------------------------------------------------- */

/* True for a loopback host name or address, where plain http is safe. */
static bool
loopback_host(const char *host, size_t len)
{
	struct in_addr in;
	char *name = xstrndup(host, len);
	bool loopback;

	/* inet_pton() takes only a dotted quad: "127.0.0.1.example.com"
	 * is a name, not a loopback address. */
	loopback = strcmp(name, "localhost") == 0 ||
	    strcmp(name, "[::1]") == 0 ||
	    (inet_pton(AF_INET, name, &in) == 1 &&
		(ntohl(in.s_addr) >> 24) == 127);
	free(name);
	return loopback;
}

/*
 * An endpoint that receives tokens must be https, or http on loopback
 * (a test stand-in). Any other scheme (file://, ftp://...) would let
 * curl read or send the secrets somewhere else.
 */
const char *
config_check_url(const char *url)
{
	const char *host;
	size_t len;

	if (g_ascii_strncasecmp(url, "https://", 8) == 0) {
		if (url[8] == '\0' || url[8] == '/')
			return "https URL without a host";
		return NULL;
	}
	if (g_ascii_strncasecmp(url, "http://", 7) != 0)
		return "expected an https:// URL";
	host = url + 7;
	if (host[0] == '[')
		len = strcspn(host, "]") + 1;
	else
		len = strcspn(host, ":/?#");
	if (!loopback_host(host, len))
		return "plain http is allowed only on loopback; use https://";
	return NULL;
}

/* The file as written -------------------------------------------------------- */

/*
 * GKeyFile keeps the last of two equal keys and merges two equal
 * groups, silently; a second value is almost always a mistake, so the
 * file itself is scanned for them.
 */
void
config_check_duplicates(const char *path, char **err)
{
	GHashTable *seen =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	char line[4096], *group = NULL, *why;
	FILE *f;
	int n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *s = str_trim(line), *id, *end;
		gpointer first;

		n++;
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[' && (end = strchr(s, ']')) != NULL) {
			g_free(group);
			group = g_strndup(s + 1, (gsize)(end - s - 1));
			id = g_strdup_printf("[%s]", group);
		} else if (group != NULL && (end = strchr(s, '=')) != NULL) {
			*end = '\0';
			id = g_strdup_printf("[%s] %s", group, str_trim(s));
		} else
			continue;
		if ((first = g_hash_table_lookup(seen, id)) != NULL) {
			why = xasprintf("%s: given again (first on line %d)",
			    id, GPOINTER_TO_INT(first));
			config_error_at(err, path, n, NULL, NULL, why);
			free(why);
			g_free(id);
		} else
			g_hash_table_insert(seen, id, GINT_TO_POINTER(n));
	}
	fclose(f);
	g_free(group);
	g_hash_table_destroy(seen);
}

/* [database] and [daemon] -------------------------------------------------- */

static int
sockaddr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(
		    ((const struct sockaddr_in *)(const void *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(
		    ((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
	return 0;
}

bool
config_listen_is_loopback(const char *listen)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);
	const struct sockaddr_in *in = (const void *)&ss;
	const struct sockaddr_in6 *in6 = (const void *)&ss;
	const uint8_t *a = in6->sin6_addr.s6_addr;

	if (evutil_parse_sockaddr_port(listen, (struct sockaddr *)&ss, &len) ==
	    -1)
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family != AF_INET6)
		return false;
	/* ::1, or an IPv4 loopback address mapped (::ffff:127.x.y.z). */
	if (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && a[12] == 127;
}

/*
 * metrics_listen is handed to the HTTP server at start; checking it
 * here turns "21470" or a host name into a --check-config error rather
 * than metrics that are silently off. The endpoint has no
 * authentication: an address other hosts can reach is allowed (behind
 * a firewall or a proxy it can be meant) but warned about.
 */
void
config_check_metrics_listen(struct config *c, char **err)
{
	struct sockaddr_storage ss;
	int len = (int)sizeof(ss);

	if (c->metrics_listen == NULL)
		return;
	if (str_iequal(c->metrics_listen, "off")) {
		free(c->metrics_listen);
		c->metrics_listen = NULL;
		return;
	}
	if (evutil_parse_sockaddr_port(
		c->metrics_listen, (struct sockaddr *)&ss, &len) == -1 ||
	    sockaddr_port(&ss) == 0)
		config_error(err, c->path, "daemon", "metrics_listen",
		    "expected ADDRESS:PORT, such as 127.0.0.1:9464 or "
		    "[::1]:9464, or off: \"%s\"",
		    c->metrics_listen);
	else if (!config_listen_is_loopback(c->metrics_listen))
		config_warning(c, "daemon", "metrics_listen",
		    "%s is reachable from other hosts, and /metrics and "
		    "/healthz have no authentication; listen on 127.0.0.1 "
		    "or [::1] unless a firewall or proxy guards the port",
		    c->metrics_listen);
}

/* Pub/Sub ------------------------------------------------------------------ */

static bool
in_set(char c, const char *extra)
{
	return g_ascii_isalnum(c) || strchr(extra, c) != NULL;
}

/*
 * Why name is not "projects/PROJECT/KIND/NAME" as Google spells them: a
 * project id of 6 to 30 lower-case letters, digits and hyphens starting
 * with a letter; a name of 3 to 255 letters, digits and - _ . ~ + %,
 * starting with a letter and not with "goog". NULL when it is.
 */
static const char *
pubsub_name_problem(const char *name, const char *kind)
{
	const char *p, *slash;
	size_t n;

	if (strncmp(name, "projects/", 9) != 0)
		return "does not start with \"projects/\"";
	p = name + 9;
	if ((slash = strchr(p, '/')) == NULL)
		return "has no project id";
	n = (size_t)(slash - p);
	if (n < 6 || n > 30 || !g_ascii_islower(*p))
		return "the project id is not 6 to 30 characters starting "
		       "with a lower-case letter";
	for (const char *q = p; q < slash; q++)
		if (!g_ascii_islower(*q) && !g_ascii_isdigit(*q) && *q != '-')
			return "the project id holds other characters than "
			       "lower-case letters, digits and hyphens";
	p = slash + 1;
	n = strlen(kind);
	if (strncmp(p, kind, n) != 0 || p[n] != '/')
		return kind[0] == 't' ? "expected .../topics/NAME"
				      : "expected .../subscriptions/NAME";
	p += n + 1;
	n = strlen(p);
	if (n < 3 || n > 255 || !g_ascii_isalpha(*p) ||
	    g_ascii_strncasecmp(p, "goog", 4) == 0)
		return "the name is not 3 to 255 characters starting with a "
		       "letter (and not with \"goog\")";
	for (; *p; p++)
		if (!in_set(*p, "-_.~+%"))
			return "the name holds other characters than letters, "
			       "digits and - _ . ~ + %";
	return NULL;
}

void
config_check_pubsub(struct config *c, char **err)
{
	const char *why;

	if (c->pubsub_topic != NULL &&
	    (why = pubsub_name_problem(c->pubsub_topic, "topics")) != NULL)
		config_error(err, c->path, "gmail", "pubsub_topic",
		    "expected projects/PROJECT/topics/NAME: %s: \"%s\"", why,
		    c->pubsub_topic);
	if (c->pubsub_subscription != NULL &&
	    (why = pubsub_name_problem(
		 c->pubsub_subscription, "subscriptions")) != NULL)
		config_error(err, c->path, "gmail", "pubsub_subscription",
		    "expected projects/PROJECT/subscriptions/NAME: %s: "
		    "\"%s\"",
		    why, c->pubsub_subscription);
	if (c->pubsub_topic != NULL && c->pubsub_subscription == NULL)
		config_error(err, c->path, "gmail", "pubsub_topic",
		    "push needs pubsub_subscription too");
	if (c->pubsub_subscription != NULL && c->pubsub_topic == NULL)
		config_error(err, c->path, "gmail", "pubsub_subscription",
		    "push needs pubsub_topic too");
	if (c->pubsub_subscription != NULL &&
	    c->pubsub_service_account_file == NULL)
		config_error(err, c->path, "gmail", "pubsub_subscription",
		    "push needs pubsub_service_account_file, the key of a "
		    "service account that may pull from the subscription");
	if ((why = config_check_url(c->pubsub_token_url)) != NULL)
		config_error(err, c->path, "gmail", "pubsub_token_url",
		    "%s: \"%s\"", why, c->pubsub_token_url);
	if ((why = config_check_url(c->pubsub_api_base)) != NULL)
		config_error(err, c->path, "gmail", "pubsub_api_base",
		    "%s: \"%s\"", why, c->pubsub_api_base);
}

static bool
conninfo_is_uri(const char *conninfo)
{
	return strncmp(conninfo, "postgresql://", 13) == 0 ||
	    strncmp(conninfo, "postgres://", 11) == 0;
}

/* A value of a "key = value" conninfo, quoted or not, with libpq's
 * backslash escapes; advances *pp past it. */
static char *
conninfo_word(const char **pp)
{
	const char *p = *pp;
	bool quoted = *p == '\'';
	struct buf b;

	buf_init(&b);
	if (quoted)
		p++;
	while (*p != '\0') {
		if (quoted ? *p == '\'' : g_ascii_isspace(*p))
			break;
		if (*p == '\\' && p[1] != '\0')
			p++;
		buf_append(&b, p, 1);
		p++;
	}
	if (quoted && *p == '\'')
		p++;
	*pp = p;
	return buf_steal(&b);
}

/* The value of a URI's "?key=value" parameter, NULL when absent. */
static char *
conninfo_uri_value(const char *conninfo, const char *key)
{
	size_t kl = strlen(key);
	const char *p = strchr(conninfo, '?');

	while (p != NULL) {
		p++;
		if (strncmp(p, key, kl) == 0 && p[kl] == '=')
			return xstrndup(p + kl + 1, strcspn(p + kl + 1, "&#"));
		p = strchr(p, '&');
	}
	return NULL;
}

/* The value of a conninfo keyword, NULL when absent. */
static char *
conninfo_value(const char *conninfo, const char *key)
{
	const char *p = conninfo;

	if (conninfo_is_uri(conninfo))
		return conninfo_uri_value(conninfo, key);
	for (;;) {
		const char *name;
		size_t len;
		char *value;

		p += strspn(p, " \t\n");
		name = p;
		len = strcspn(p, " \t\n=");
		p += len;
		p += strspn(p, " \t\n");
		/* Malformed: libpq will say so when it connects. */
		if (len == 0 || *p != '=')
			return NULL;
		p++;
		p += strspn(p, " \t\n");
		value = conninfo_word(&p);
		if (len == strlen(key) && strncmp(name, key, len) == 0)
			return value;
		free(value);
	}
}

/* True when the conninfo holds a password: "password=..." or a URI's
 * "user:password@". */
static bool
conninfo_has_password(const char *conninfo)
{
	char *pw = conninfo_value(conninfo, "password");
	const char *at, *rest;

	if (pw != NULL) {
		free(pw);
		return true;
	}
	if (!conninfo_is_uri(conninfo))
		return false;
	rest = strstr(conninfo, "://") + 3;
	at = rest + strcspn(rest, "@/?");
	return *at == '@' && memchr(rest, ':', (size_t)(at - rest)) != NULL;
}

/*
 * libpq ignores a password file that its group or others may read or
 * write, and then fails with "no password supplied"; say so here.
 */
static void
check_passfile(struct config *c, char **err)
{
	char *passfile = conninfo_value(c->conninfo, "passfile");
	struct stat st;

	if (passfile == NULL)
		return;
	if (stat(passfile, &st) == -1)
		config_error(err, c->path, "database", "conninfo",
		    "passfile %s: %s", passfile, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		config_error(err, c->path, "database", "conninfo",
		    "passfile %s is not a regular file", passfile);
	else if (st.st_mode & (S_IRWXG | S_IRWXO))
		config_error(err, c->path, "database", "conninfo",
		    "libpq ignores passfile %s: group or others may access it "
		    "(mode %04o); run chmod 0600 on it and chown it to the "
		    "user inboxd runs as",
		    passfile, (unsigned)(st.st_mode & 07777));
	free(passfile);
}

void
config_check_conninfo(struct config *c, char **err)
{
	struct stat st;

	if (c->conninfo == NULL)
		return;
	if (conninfo_has_password(c->conninfo) && stat(c->path, &st) == 0 &&
	    (st.st_mode & S_IROTH))
		config_error(err, c->path, "database", "conninfo",
		    "a password in a file others can read (mode %04o); "
		    "put it in a passfile (see inboxd.conf(5))",
		    (unsigned)(st.st_mode & 07777));
	check_passfile(c, err);
}
