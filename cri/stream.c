/* SPDX-License-Identifier: Apache-2.0 */
/* stream.c - Exec, Attach and PortForward: request validation and tokens (the
 * RPCs), and the backend the streaming server (streaming/) runs them through.
 *
 * Exec: berth-exec runs `runc exec --detach` (as ExecSync does) with pipes for
 * stdio, or with --tty and a console socket here, from which the pty master
 * arrives with SCM_RIGHTS. berth-exec reaps the process and writes its wait
 * status; a pidfd of berth-exec tells the relay when it is over. A client that
 * goes away gets its process killed (kill(-pid), the pid from runc's pid file).
 * Attach: shim_attach() on the container's shim. PortForward: a socket made in
 * the pod's netns by netns_run() and connected to 127.0.0.1:<port>. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <netinet/in.h>

#include "common/alloc.h"
#include "common/cleanup.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/spawn.h"
#include "cri/cri-internal.h"
#include "cri/pod.h"
#include "netns/netns.h"
#include "shim/shim.h"
#include "streaming/streaming.h"
#include "cri/validate-internal.h"

#define SPEC_MAX	(4 * 1024 * 1024)
#define CONSOLE_WAIT_MS 30000
#define EXEC_ERR_MAX	65536
#define PID_WAIT_MS	10000 /* runc writes its pid file soon after the start */

struct exec_priv {
	pid_t helper;
	char *dir;
	bool attach;
};

static int be_finish(void *ctx, struct stream_proc *p, bool kill_it, struct berr **err);

static int running_ctr(struct berth *b, const char *id, struct store_ctr **ret, struct berr **err)
{
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_ctr_get(b->store, id ? id : "", ret, &e);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "container '%s' not found", id ? id : "");
	if (r < 0)
		return berr_move(err, &e);
	struct store_ctr_status st;
	store_ctr_status(*ret, &st);
	enum store_ctr_state s = store_ctr_state(&st);
	store_ctr_status_done(&st);
	if (s != STORE_CTR_RUNNING) {
		r = berr_set(err, EBUSY, "container '%.12s' is %s, not running", store_ctr_id(*ret),
			     store_ctr_state_name(s));
		*ret = store_ctr_unref(*ret);
	}
	return r;
}

static struct stream_proc *proc_new(void)
{
	struct stream_proc *p = xcalloc(1, sizeof(*p));
	p->in_fd = p->out_fd = p->err_fd = p->shim_fd = p->exit_fd = -1;
	p->priv = xcalloc(1, sizeof(struct exec_priv));
	return p;
}

static char *exec_process_json(const char *spec, char **cmd, bool tty, struct berr **err)
{
	_cleanup_free_ char *proc = NULL;
	if (oci_exec_process_build(spec, cmd, &proc, err) < 0)
		return NULL;
	if (!tty)
		return TAKE_PTR(proc);
	json_object *j = json_tokener_parse(proc);
	if (!j)
		return berr_set(err, EPROTO, "exec process JSON"), NULL;
	json_object_object_add(j, "terminal", json_object_new_boolean(true));
	char *s = xstrdup(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
	json_object_put(j);
	return s;
}

/* Waits for runc on the console socket and receives the pty master. */
static int recv_master(int lfd, int pidfd, int *ret, struct berr **err)
{
	struct pollfd p[2] = {{.fd = lfd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
	if (poll(p, 2, CONSOLE_WAIT_MS) <= 0)
		return berr_set(err, ETIMEDOUT, "no console from the runtime");
	if (!p[0].revents)
		return 0; /* berth-exec ended first: finish() reports why */
	_cleanup_close_ int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return berr_set_errno(err, errno, "accept console socket");
	char name[256];
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov = {.iov_base = name, .iov_len = sizeof(name)};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = cm.buf,
			   .msg_controllen = sizeof(cm.buf)};
	if (recvmsg(c, &m, MSG_CMSG_CLOEXEC) < 0)
		return berr_set_errno(err, errno, "receive the console");
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	if (!h || h->cmsg_type != SCM_RIGHTS || h->cmsg_len != CMSG_LEN(sizeof(int)))
		return berr_set(err, EPROTO, "console socket: no file descriptor");
	memcpy(ret, CMSG_DATA(h), sizeof(int));
	return 0;
}

/* Spawns berth-exec with pipes for the requested stdio (none for a tty; its
 * stderr then goes to errfd, where runc's own errors land). Only gotos here:
 * the pipe ends are released at one label. */
static int exec_spawn(char **argv, const struct stream_req *req, int errfd, struct stream_proc *p,
		      struct berr **err)
{
	struct exec_priv *x = p->priv;
	int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
	int r = 0;
	if ((!req->tty && req->in && pipe2(in, O_CLOEXEC) < 0) ||
	    (!req->tty && req->out && pipe2(out, O_CLOEXEC) < 0) ||
	    (!req->tty && req->err && pipe2(er, O_CLOEXEC) < 0)) {
		r = berr_set_errno(err, errno, "exec pipes");
		goto out_close;
	}
	struct spawn_opts o = SPAWN_OPTS_INIT;
	o.argv = argv;
	o.setsid = true;
	o.fd_in = in[0];
	o.fd_out = out[1];
	o.fd_err = er[1] >= 0 ? er[1] : errfd;
	r = spawn_start(&o, &x->helper, err);
	if (r < 0)
		goto out_close;
	p->exit_fd = (int)syscall(SYS_pidfd_open, x->helper, 0);
	if (p->exit_fd < 0) {
		r = berr_set_errno(err, errno, "pidfd_open");
		goto out_close;
	}
	p->in_fd = in[1];
	p->out_fd = out[0];
	p->err_fd = er[0];
	in[1] = out[0] = er[0] = -1;
out_close:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
		if (er[i] >= 0)
			close(er[i]);
	}
	return r;
}

static int exec_start(struct berth *b, const struct stream_req *req, struct stream_proc *p,
		      struct berr **err)
{
	struct exec_priv *x = p->priv;
	struct store_ctr *c = NULL;
	int r = running_ctr(b, req->id, &c, err);
	if (r < 0)
		return r;
	const struct store_ctr_meta *m = store_ctr_meta(c);
	struct oci_runtime_handler h;
	_cleanup_free_ char *cfg = xasprintf("%s/config.json", m->bundle_dir);
	_cleanup_free_ char *spec = NULL, *proc = NULL, *id = xstrdup(m->id);
	r = cri_handler_of(b, m->runtime_handler, &h, err);
	if (r == 0)
		r = fileio_read_all(cfg, SPEC_MAX, &spec, NULL, err);
	store_ctr_unref(c);
	if (r < 0)
		return r;
	proc = exec_process_json(spec, req->cmd, req->tty, err);
	if (!proc)
		return *err ? -(*err)->code : -EINVAL;
	x->dir = xasprintf("%s/exec-XXXXXX", b->cfg.run_dir);
	if (!mkdtemp(x->dir)) {
		r = berr_set_errno(err, errno, "create exec dir in '%s'", b->cfg.run_dir);
		x->dir = (free(x->dir), NULL);
		return r;
	}
	_cleanup_free_ char *procf = xasprintf("%s/process.json", x->dir);
	_cleanup_free_ char *pidf = xasprintf("%s/pid", x->dir);
	_cleanup_free_ char *statf = xasprintf("%s/status", x->dir);
	_cleanup_free_ char *errf = xasprintf("%s/stderr", x->dir);
	_cleanup_free_ char *sockf = xasprintf("%s/console.sock", x->dir);
	r = fileio_write_atomic_nosync(procf, proc, strlen(proc), 0600, err);
	if (r < 0)
		return r;
	_cleanup_close_ int lfd = -1;
	if (req->tty) {
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		if (strlen(sockf) >= sizeof(sa.sun_path))
			return berr_set(err, ENAMETOOLONG, "console socket path '%s' too long",
					sockf);
		strcpy(sa.sun_path, sockf);
		lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(lfd, 1) < 0)
			return berr_set_errno(err, errno, "console socket '%s'", sockf);
	}
	struct oci_runtime_args a = {.cmd = OCI_RUNTIME_CMD_EXEC,
				     .id = id,
				     .process_path = procf,
				     .pid_file = pidf,
				     .console_socket = req->tty ? sockf : NULL,
				     .detach = true};
	_cleanup_strv_ char **rargv = oci_runtime_argv(&h, &a, err);
	if (!rargv)
		return -EINVAL;
	size_t n = 0;
	while (rargv[n])
		n++;
	_cleanup_free_ char **argv = xcalloc(n + 4, sizeof(char *));
	argv[0] = (char *)(h.exec_helper ? h.exec_helper : BERTH_LIBEXECDIR "/berth-exec");
	argv[1] = pidf;
	argv[2] = statf;
	memcpy(argv + 3, rargv, n * sizeof(char *));
	_cleanup_close_ int errfd = open(errf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (errfd < 0)
		return berr_set_errno(err, errno, "open '%s'", errf);
	r = exec_spawn(argv, req, errfd, p, err);
	if (r == 0 && req->tty) {
		int master = -1;
		r = recv_master(lfd, p->exit_fd, &master, err);
		if (master >= 0) {
			p->out_fd = master;
			p->in_fd = req->in ? master : -1;
		}
	}
	return r;
}

static int be_start(void *ctx, const struct stream_req *req, struct stream_proc **ret,
		    struct berr **err)
{
	struct berth *b = ctx;
	struct stream_proc *p = proc_new();
	struct exec_priv *x = p->priv;
	int r;
	if (req->kind == STREAM_ATTACH) {
		x->attach = true;
		struct store_ctr *c = NULL;
		r = running_ctr(b, req->id, &c, err);
		if (r == 0) {
			struct store_ctr_status st;
			store_ctr_status(c, &st);
			unsigned bits = (req->in ? SHIM_ATTACH_STDIN : 0) |
					(req->out ? SHIM_ATTACH_STDOUT : 0) |
					(req->err ? SHIM_ATTACH_STDERR : 0);
			r = st.shim_socket ? shim_attach(st.shim_socket, bits, &p->shim_fd, err)
					   : berr_set(err, ENOENT, "container has no shim");
			store_ctr_status_done(&st);
			store_ctr_unref(c);
		}
	} else {
		r = exec_start(b, req, p, err);
	}
	if (r < 0) {
		/* Kill and reap whatever was started, remove the dir. */
		struct berr *ignore = NULL;
		(void)be_finish(ctx, p, true, &ignore);
		berr_free(ignore);
		return r;
	}
	*ret = p;
	return 0;
}

static long read_num(const char *path)
{
	_cleanup_free_ char *s = NULL;
	if (fileio_read_all(path, 64, &s, NULL, NULL) < 0)
		return -1;
	char *end;
	long v = strtol(s, &end, 10);
	return end == s ? -1 : v;
}

/* Kills the exec'd process and its group. runc writes its pid file after the
 * process started, possibly after it wrote output, so a client leaving at
 * once may come before the file: wait for it (or for berth-exec to end, when
 * runc failed), polling, at most PID_WAIT_MS; then the helper's session goes. */
static void exec_kill(struct stream_proc *p)
{
	struct exec_priv *x = p->priv;
	_cleanup_free_ char *pidf = xasprintf("%s/pid", x->dir);
	for (int waited = 0; waited < PID_WAIT_MS; waited += 10) {
		long pid = read_num(pidf);
		if (pid > 0) {
			kill(-(pid_t)pid, SIGKILL);
			kill((pid_t)pid, SIGKILL);
			return;
		}
		struct pollfd q = {.fd = p->exit_fd, .events = POLLIN};
		if (p->exit_fd < 0 || poll(&q, 1, 10) != 0)
			break;
	}
	kill(-x->helper, SIGKILL);
}

static int be_finish(void *ctx, struct stream_proc *p, bool kill_it, struct berr **err)
{
	(void)ctx;
	struct exec_priv *x = p->priv;
	int r = 0;
	if (x->helper > 0) {
		if (kill_it)
			exec_kill(p);
		int status = 0;
		(void)spawn_wait(x->helper, &status, NULL);
		_cleanup_free_ char *statf = xasprintf("%s/status", x->dir);
		long st = read_num(statf);
		if (st >= 0) {
			int ws = (int)st;
			r = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
		} else {
			_cleanup_free_ char *errf = xasprintf("%s/stderr", x->dir);
			_cleanup_free_ char *txt = NULL;
			(void)fileio_read_all(errf, EXEC_ERR_MAX, &txt, NULL, NULL);
			_cleanup_free_ char *why = txt ? oci_runtime_error_text(txt) : NULL;
			if (!why)
				why = spawn_status_str(status);
			r = berr_set(err, EIO, "exec failed: %s", why);
		}
	}
	if (x->dir)
		(void)fileio_remove_tree(x->dir, NULL);
	if (p->in_fd >= 0 && p->in_fd != p->out_fd)
		close(p->in_fd);
	int fds[] = {p->out_fd, p->err_fd, p->shim_fd, p->exit_fd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(x->dir);
	free(x);
	free(p);
	return r;
}

static int be_resize(void *ctx, struct stream_proc *p, unsigned w, unsigned h)
{
	(void)ctx;
	if (p->shim_fd >= 0) {
		char pkt[64];
		int n = snprintf(pkt, sizeof(pkt), "%c%u %u", SHIM_TAG_RESIZE, w, h);
		return send(p->shim_fd, pkt, (size_t)n, MSG_NOSIGNAL) < 0 ? -errno : 0;
	}
	struct winsize ws = {.ws_col = (unsigned short)w, .ws_row = (unsigned short)h};
	return p->out_fd >= 0 && ioctl(p->out_fd, TIOCSWINSZ, &ws) < 0 ? -errno : 0;
}

struct connect_arg {
	uint16_t port;
	int fd;
};

/* Runs on netns_run()'s thread inside the pod's netns: the socket stays there. */
static int connect_in_ns(void *arg, struct berr **err)
{
	struct connect_arg *a = arg;
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return berr_set_errno(err, errno, "socket");
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(a->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return berr_set_errno(err, errno, "connect to 127.0.0.1:%u", a->port);
	a->fd = TAKE_FD(fd);
	return 0;
}

static int be_connect(void *ctx, const struct stream_req *req, uint16_t port, int *ret_fd,
		      struct berr **err)
{
	struct berth *b = ctx;
	struct store_sb *sb = NULL;
	int r = store_sb_get(b->store, req->id, &sb, err);
	if (r < 0)
		return r;
	struct store_sb_status st;
	store_sb_status(sb, &st);
	struct connect_arg a = {.port = port, .fd = -1};
	if (st.state != STORE_SB_READY)
		r = berr_set(err, EBUSY, "sandbox '%.12s' is not ready", store_sb_id(sb));
	else if (st.netns_path)
		r = netns_run(st.netns_path, connect_in_ns, &a, err);
	else
		r = connect_in_ns(&a, err);
	store_sb_status_done(&st);
	store_sb_unref(sb);
	if (r == 0)
		*ret_fd = a.fd;
	return r;
}

int cri_stream_init(struct berth *b, struct berr **err)
{
	struct stream_backend be = {.ctx = b,
				    .start = be_start,
				    .resize = be_resize,
				    .finish = be_finish,
				    .connect = be_connect};
	struct stream_server_opts o = {.address = b->cfg.stream_address,
				       .port = b->cfg.stream_port,
				       .token_ttl_ms = b->cfg.stream_token_ttl_ms,
				       .tls_cert = b->cfg.stream_tls_cert,
				       .tls_key = b->cfg.stream_tls_key};
	int r = stream_server_new(&o, &be, &b->stream, err);
	if (r == 0)
		r = stream_server_start(b->stream, err);
	if (r < 0)
		b->stream = stream_server_free(b->stream);
	return r;
}

void cri_stream_done(struct berth *b)
{
	b->stream = stream_server_free(b->stream);
}

/* ---- the RPCs ---- */

static int check_stdio(bool in, bool out, bool er, bool tty, struct berr **err)
{
	if (!in && !out && !er)
		return berr_set(err, EINVAL, "one of stdin, stdout, or stderr must be set");
	if (tty && er)
		return berr_set(err, EINVAL, "tty and stderr cannot both be true");
	return 0;
}

static int reply_url(struct berth *b, struct stream_req *req, const ProtobufCMessageDescriptor *d,
		     ProtobufCMessage **ret_resp, struct berr **err)
{
	if (!b->stream) {
		stream_req_free(req);
		return berr_set(err, ENOSYS, "the streaming server is not running");
	}
	char *url = NULL;
	int r = stream_server_register(b->stream, req, &url, err);
	if (r < 0)
		return r;
	ProtobufCMessage *m = cri_msg_new(d);
	/* ExecResponse, AttachResponse and PortForwardResponse: url is field 1. */
	*(char **)((char *)m + d->fields[0].offset) = url;
	*ret_resp = m;
	return 0;
}

/* The request of an Exec or Attach: stdio flags checked, the container running. */
static int stdio_req(struct berth *b, enum stream_kind kind, const char *ctr_id, bool in, bool out,
		     bool er, bool tty, struct stream_req **ret, struct berr **err)
{
	int r = check_stdio(in, out, er, tty, err);
	struct store_ctr *c = NULL;
	if (r == 0)
		r = running_ctr(b, ctr_id, &c, err);
	if (r < 0)
		return r;
	struct stream_req *sr = xcalloc(1, sizeof(*sr));
	sr->kind = kind;
	sr->id = xstrdup(store_ctr_id(c));
	store_ctr_unref(c);
	sr->in = in;
	sr->out = out;
	sr->err = er;
	sr->tty = tty;
	*ret = sr;
	return 0;
}

int cri_exec(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
	     ProtobufCMessage **ret_resp, struct berr **err)
{
	(void)call;
	const Runtime__V1__ExecRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	if (in->n_cmd == 0 || !in->cmd[0][0])
		return berr_set(err, EINVAL, "exec: empty command");
	struct stream_req *sr = NULL;
	int r = stdio_req(b, STREAM_EXEC, in->container_id, in->stdin, in->stdout, in->stderr,
			  in->tty, &sr, err);
	if (r < 0)
		return r;
	sr->cmd = xcalloc(in->n_cmd + 1, sizeof(char *));
	for (size_t i = 0; i < in->n_cmd; i++)
		sr->cmd[i] = xstrdup(in->cmd[i]);
	return reply_url(b, sr, &runtime__v1__exec_response__descriptor, ret_resp, err);
}

int cri_attach(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
	       ProtobufCMessage **ret_resp, struct berr **err)
{
	(void)call;
	const Runtime__V1__AttachRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct stream_req *sr = NULL;
	int r = stdio_req(b, STREAM_ATTACH, in->container_id, in->stdin, in->stdout, in->stderr,
			  in->tty, &sr, err);
	if (r < 0)
		return r;
	return reply_url(b, sr, &runtime__v1__attach_response__descriptor, ret_resp, err);
}

int cri_port_forward(struct berth *b, struct cri_call *call, const ProtobufCMessage *req,
		     ProtobufCMessage **ret_resp, struct berr **err)
{
	(void)call;
	const Runtime__V1__PortForwardRequest *in = (const void *)req;
	int vr = cri_validate_req(b, req, err);
	if (vr < 0)
		return vr;
	struct store_sb *sb = NULL;
	_cleanup_berr_ struct berr *e = NULL;
	int r = store_sb_get(b->store, in->pod_sandbox_id ? in->pod_sandbox_id : "", &sb, &e);
	if (r == -ENOENT)
		return berr_set(err, ENOENT, "sandbox '%s' not found", in->pod_sandbox_id);
	if (r < 0)
		return berr_move(err, &e);
	for (size_t i = 0; r == 0 && i < in->n_port; i++)
		if (in->port[i] <= 0 || in->port[i] > 65535)
			r = berr_set(err, EINVAL, "invalid port %d", in->port[i]);
	struct store_sb_status st;
	store_sb_status(sb, &st);
	if (r == 0 && st.state != STORE_SB_READY)
		r = berr_set(err, EBUSY, "sandbox '%.12s' is not ready", store_sb_id(sb));
	store_sb_status_done(&st);
	struct stream_req *sr = NULL;
	if (r == 0) {
		sr = xcalloc(1, sizeof(*sr));
		sr->kind = STREAM_PORTFORWARD;
		sr->id = xstrdup(store_sb_id(sb));
	}
	store_sb_unref(sb);
	if (r < 0)
		return r;
	return reply_url(b, sr, &runtime__v1__port_forward_response__descriptor, ret_resp, err);
}
