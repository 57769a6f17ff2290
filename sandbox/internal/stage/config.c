//go:build cgo && linux

#include "init.h"

static const char *rd_take(struct is_rd *r, size_t n) {
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = 1;
		return NULL;
	}
	const char *p = r->p;
	r->p += n;
	return p;
}

static uint16_t rd_u16(struct is_rd *r) {
	uint16_t v = 0;
	const char *p = rd_take(r, 2);
	if (p)
		memcpy(&v, p, 2);
	return v;
}

static uint32_t rd_u32(struct is_rd *r) {
	uint32_t v = 0;
	const char *p = rd_take(r, 4);
	if (p)
		memcpy(&v, p, 4);
	return v;
}

static uint64_t rd_u64(struct is_rd *r) {
	uint64_t v = 0;
	const char *p = rd_take(r, 8);
	if (p)
		memcpy(&v, p, 8);
	return v;
}

// rd_count reads a number of items of at least size bytes each; more than
// the rest can hold is malformed (and no allocation is made for it).
static uint32_t rd_count(struct is_rd *r, size_t size) {
	uint32_t n = rd_u32(r);
	if (!r->bad && (uint64_t)n * size > (uint64_t)(r->end - r->p))
		r->bad = 1;
	return r->bad ? 0 : n;
}

// rd_str returns a string in place: the encoder NUL-terminates each. One
// with a NUL inside could not be what the runner meant.
static const char *rd_str(struct is_rd *r) {
	uint32_t n = rd_u32(r);
	const char *s = rd_take(r, (size_t)n + 1);
	if (s == NULL || s[n] != 0 || memchr(s, 0, n) != NULL) {
		r->bad = 1;
		return "";
	}
	return s;
}

static const char **rd_strs(struct is_rd *r, uint32_t *n) {
	*n = rd_count(r, 5);
	const char **v = is_alloc(((size_t)*n + 1) * sizeof *v);
	for (uint32_t i = 0; i < *n; i++)
		v[i] = rd_str(r);
	v[*n] = NULL;
	return v;
}

static int decode(const char *msg, size_t len, struct is_cfg *c, int build);

int is_decode(const char *msg, size_t len, struct is_cfg *c) { return decode(msg, len, c, 0); }

// is_decode_build reads EncodeBuild's message (the length word left out):
// a config of which only the build part is set (see is_same_build), so
// with no arguments.
int is_decode_build(const char *msg, size_t len, struct is_cfg *c) { return decode(msg, len, c, 1); }

static int decode(const char *msg, size_t len, struct is_cfg *c, int build) {
	struct is_rd r = {.p = msg, .end = msg + len, .bad = 0};
	memset(c, 0, sizeof *c);
	c->flags = rd_u32(&r);
	c->uid = rd_u32(&r);
	c->gid = rd_u32(&r);
	c->rows = rd_u16(&r);
	c->cols = rd_u16(&r);
	c->extra = (int32_t)rd_u32(&r);
	c->dir = rd_str(&r);
	c->callerwd = rd_str(&r);
	c->hostname = rd_str(&r);
	c->domainname = rd_str(&r);
	c->scratch = rd_str(&r);
	c->rootfs = rd_str(&r);
	c->args = rd_strs(&r, &c->nargs);
	c->env = rd_strs(&r, &c->nenv);
	c->ncaps = rd_count(&r, 4);
	c->caps = is_alloc((size_t)c->ncaps * sizeof *c->caps);
	for (uint32_t i = 0; i < c->ncaps; i++)
		c->caps[i] = (int32_t)rd_u32(&r);
	c->nsteps = rd_count(&r, 4 + 8 + 8 + 5 * 5 + 4);
	c->steps = is_alloc((size_t)c->nsteps * sizeof *c->steps);
	for (uint32_t i = 0; i < c->nsteps; i++) {
		struct is_step *st = &c->steps[i];
		st->flags = rd_u32(&r);
		st->mflags = rd_u64(&r);
		st->major = rd_u32(&r);
		st->minor = rd_u32(&r);
		st->kind = rd_str(&r);
		st->src = rd_str(&r);
		st->dst = rd_str(&r);
		st->fs = rd_str(&r);
		st->data = rd_str(&r);
		st->mkdir = rd_strs(&r, &st->nmkdir);
	}
	c->nrlimits = rd_count(&r, 4 + 8 + 8);
	c->rlimits = is_alloc((size_t)c->nrlimits * sizeof *c->rlimits);
	for (uint32_t i = 0; i < c->nrlimits; i++) {
		c->rlimits[i].resource = (int32_t)rd_u32(&r);
		c->rlimits[i].cur = rd_u64(&r);
		c->rlimits[i].max = rd_u64(&r);
	}
	if (c->flags & IS_SECCOMP) {
		c->nfilter = rd_count(&r, sizeof(struct sock_filter));
		c->filter = is_alloc((size_t)c->nfilter * sizeof *c->filter);
		const char *f = rd_take(&r, (size_t)c->nfilter * sizeof *c->filter);
		if (f)
			memcpy(c->filter, f, (size_t)c->nfilter * sizeof *c->filter);
		c->nnames = rd_count(&r, 4 + 5);
		c->nrs = is_alloc((size_t)c->nnames * sizeof *c->nrs);
		c->names = is_alloc((size_t)c->nnames * sizeof *c->names);
		for (uint32_t i = 0; i < c->nnames; i++) {
			c->nrs[i] = (int32_t)rd_u32(&r);
			c->names[i] = rd_str(&r);
		}
	}
	if (c->flags & IS_SELFMAP) {
		c->uidmap[0] = rd_u32(&r);
		c->uidmap[1] = rd_u32(&r);
		c->gidmap[0] = rd_u32(&r);
		c->gidmap[1] = rd_u32(&r);
	}
	if (r.bad || r.p != r.end || (c->nargs == 0) != build)
		return -1;
	return 0;
}

static int same_str(const char *a, const char *b) { return strcmp(a, b) == 0; }

// is_same_build says whether a and b build the same container: what
// is_build reads of a config (the capabilities CMD may keep bound the
// set the build leaves), and nothing else (EncodeBuild's fields).
int is_same_build(const struct is_cfg *a, const struct is_cfg *b) {
	if ((a->flags & (IS_LOOPBACK | IS_SELFMAP)) != (b->flags & (IS_LOOPBACK | IS_SELFMAP)) ||
	    memcmp(a->uidmap, b->uidmap, sizeof a->uidmap) != 0 || memcmp(a->gidmap, b->gidmap, sizeof a->gidmap) != 0 ||
	    !same_str(a->hostname, b->hostname) ||
	    !same_str(a->domainname, b->domainname) || !same_str(a->scratch, b->scratch) || !same_str(a->rootfs, b->rootfs) ||
	    a->nsteps != b->nsteps || a->ncaps != b->ncaps)
		return 0;
	for (uint32_t i = 0; i < a->ncaps; i++)
		if (a->caps[i] != b->caps[i])
			return 0;
	for (uint32_t i = 0; i < a->nsteps; i++) {
		const struct is_step *x = &a->steps[i], *y = &b->steps[i];
		if (x->flags != y->flags || x->mflags != y->mflags || x->major != y->major || x->minor != y->minor ||
		    !same_str(x->kind, y->kind) || !same_str(x->src, y->src) || !same_str(x->dst, y->dst) ||
		    !same_str(x->fs, y->fs) || !same_str(x->data, y->data) || x->nmkdir != y->nmkdir)
			return 0;
		for (uint32_t j = 0; j < x->nmkdir; j++)
			if (!same_str(x->mkdir[j], y->mkdir[j]))
				return 0;
	}
	return 1;
}

// is_fnv is FNV-1a, 64 bits (Go's hash/fnv New64a): the zygote's name for
// a build part, as the runner's (BuildHash).
uint64_t is_fnv(const char *p, size_t n) {
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 1099511628211ULL;
	}
	return h;
}


// is_caps_mask is the capabilities c gives CMD, as a bit set.
uint64_t is_caps_mask(const struct is_cfg *c) {
	uint64_t mask = 0;
	for (uint32_t i = 0; i < c->ncaps; i++)
		if (c->caps[i] >= 0 && c->caps[i] < 64)
			mask |= 1ULL << c->caps[i];
	return mask;
}

// encode_exec writes the exec stage's
// instructions, length word included.
char *encode_exec(const struct is_cfg *c, const char *dir, size_t *len) {
	uint64_t caps = is_caps_mask(c);
	// 1: the filter's listener goes to PID 1; 2: PID 1 denied setgroups
	// in the user namespace it mapped itself (SelfMap).
	uint32_t flags = ((c->flags & IS_NOTIFY) && c->nfilter > 0 ? 1 : 0) | (c->flags & IS_SELFMAP ? 2 : 0);
	size_t n = 4 + 40 + (size_t)c->nfilter * sizeof(struct sock_filter) + (size_t)c->nrlimits * 20 + strlen(dir) + 1;
	for (uint32_t i = 0; i < c->nargs; i++)
		n += strlen(c->args[i]) + 1;
	for (uint32_t i = 0; i < c->nenv; i++)
		n += strlen(c->env[i]) + 1;
	char *out = is_alloc(n), *p = out;
	uint32_t hdr[11] = {(uint32_t)(n - 4), c->uid, c->gid, 0, 0, (uint32_t)c->extra, flags, c->nfilter, c->nargs, c->nenv, c->nrlimits};
	memcpy(&hdr[3], &caps, 8);
	memcpy(p, hdr, sizeof hdr);
	p += sizeof hdr;
	if (c->nfilter > 0) {  // no filter, no array: memcpy wants one even for 0 bytes
		memcpy(p, c->filter, (size_t)c->nfilter * sizeof(struct sock_filter));
		p += (size_t)c->nfilter * sizeof(struct sock_filter);
	}
	for (uint32_t i = 0; i < c->nrlimits; i++) {
		memcpy(p, &c->rlimits[i].resource, 4);
		memcpy(p + 4, &c->rlimits[i].cur, 8);
		memcpy(p + 12, &c->rlimits[i].max, 8);
		p += 20;
	}
	size_t l = strlen(dir) + 1;
	memcpy(p, dir, l);
	p += l;
	for (uint32_t i = 0; i < c->nargs; i++) {
		l = strlen(c->args[i]) + 1;
		memcpy(p, c->args[i], l);
		p += l;
	}
	for (uint32_t i = 0; i < c->nenv; i++) {
		l = strlen(c->env[i]) + 1;
		memcpy(p, c->env[i], l);
		p += l;
	}
	*len = n;
	return out;
}

static void is_cfg_free(struct is_cfg *c) {
	free(c->args);
	free(c->env);
	free(c->caps);
	for (uint32_t i = 0; i < c->nsteps; i++)
		free(c->steps[i].mkdir);
	free(c->steps);
	free(c->rlimits);
	free(c->filter);
	free(c->nrs);
	free(c->names);
}

// is_exec_from_config is PID 1's reading of a config message and its
// instructions to the exec stage, for the tests (cExecFromConfig): NULL
// when the message is malformed.
char *is_exec_from_config(const char *msg, size_t len, const char *dir, size_t *outlen) {
	struct is_cfg c;
	int rc = is_decode(msg, len, &c);
	char *out = rc < 0 ? NULL : encode_exec(&c, dir, outlen);
	is_cfg_free(&c);
	return out;
}

// is_same_build_msgs is the zygote's and PID 1's reading of a build part
// (EncodeBuild's message, length word included) beside a config message
// (after the length word), for the tests: is_same_build of the two, and
// the build part's is_fnv in *hash; -1 if either is malformed.
int is_same_build_msgs(const char *build, size_t nbuild, const char *msg, size_t len, uint64_t *hash) {
	struct is_cfg b, c;
	uint32_t l = 0;
	if (nbuild >= 4)
		memcpy(&l, build, 4);
	*hash = is_fnv(build, nbuild);
	if (l != nbuild - 4 || is_decode_build(build + 4, nbuild - 4, &b) < 0)
		return -1;
	int rc = is_decode(msg, len, &c) < 0 ? -1 : is_same_build(&b, &c);
	is_cfg_free(&b);
	is_cfg_free(&c);
	return rc;
}
