/* Object names, their validation and parsing (spec §3.2), UIDs (UUIDv5 over
 * SHA-1, as Porch's util.GenerateUid), revision numbers from tag versions, and
 * the mirror directory name of a URL. Pure string work: no libgit2 here. */
#include "gitrepo/gitrepo.h"

#include "error/error.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_alnum_lower(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* A DNS-1123 label in [s, s+n). */
static int label_ok(const char *s, size_t n)
{
    if (n == 0 || n > 63 || !is_alnum_lower(s[0]) || !is_alnum_lower(s[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum_lower(s[i]) && s[i] != '-')
            return 0;
    return 1;
}

int gitrepo_is_dns1123_label(const char *s)
{
    return s && label_ok(s, strlen(s));
}

int gitrepo_is_dns1123_subdomain(const char *s)
{
    if (!s)
        return 0;
    size_t len = strlen(s);
    if (len == 0 || len > 253)
        return 0;
    const char *p = s;
    for (;;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        /* subdomain labels may be longer than 63 in k8s' regex; only the total counts */
        if (n == 0 || !is_alnum_lower(p[0]) || !is_alnum_lower(p[n - 1]))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!is_alnum_lower(p[i]) && p[i] != '-')
                return 0;
        if (!dot)
            return 1;
        p = dot + 1;
    }
}

int gitrepo_name_compose(const char *repo, const char *package_name, const char *workspace,
                         char *buf, size_t len)
{
    if (!repo || !*repo || !package_name || !*package_name || !workspace || !*workspace)
        return porch_error_set(400, "cannot compose a package revision name: repository, "
                                    "packageName and workspaceName must all be set");
    /* Porch trims '.' (i.e. leading/trailing '/') from the dotted path. */
    while (*package_name == '/')
        package_name++;
    size_t plen = strlen(package_name);
    while (plen > 0 && package_name[plen - 1] == '/')
        plen--;
    int n = snprintf(buf, len, "%s.%.*s.%s", repo, (int)plen, package_name, workspace);
    if (n < 0 || (size_t)n >= len)
        return porch_error_set(400, "package revision name for %s/%s/%s is too long", repo,
                               package_name, workspace);
    char *p = buf + strlen(repo) + 1;
    for (size_t i = 0; i < plen; i++)
        if (p[i] == '/')
            p[i] = '.';
    return 0;
}

int gitrepo_name_validate(const char *repo, const char *package_name, const char *workspace)
{
    if (!gitrepo_is_dns1123_label(repo))
        return porch_error_set(422,
                               "repository name %s is invalid: must be a DNS-1123 label "
                               "(lower-case letters, digits and '-', at most 63)",
                               repo ? repo : "(empty)");
    if (!package_name || !*package_name)
        return porch_error_set(422, "spec.packageName is required");
    if (strstr(package_name, "//") || package_name[0] == '/' ||
        package_name[strlen(package_name) - 1] == '/')
        return porch_error_set(422, "spec.packageName %s is invalid: empty path segment",
                               package_name);
    const char *leaf = strrchr(package_name, '/');
    leaf = leaf ? leaf + 1 : package_name;
    if (!gitrepo_is_dns1123_label(leaf))
        return porch_error_set(422,
                               "package name %s of spec.packageName %s is invalid: must be a "
                               "DNS-1123 label",
                               leaf, package_name);
    char joined[GITREPO_NAME_MAX];
    size_t j = 0;
    for (const char *p = package_name; *p; p++) {
        if (*p == '/')
            continue;
        if (j + 1 >= sizeof joined)
            return porch_error_set(422, "spec.packageName %s is too long", package_name);
        joined[j++] = *p;
    }
    joined[j] = 0;
    if (!gitrepo_is_dns1123_label(joined))
        return porch_error_set(422,
                               "spec.packageName %s is invalid: without '/' it must be a "
                               "DNS-1123 label (at most 63 characters)",
                               package_name);
    if (!gitrepo_is_dns1123_label(workspace))
        return porch_error_set(422, "spec.workspaceName %s is invalid: must be a DNS-1123 label",
                               workspace ? workspace : "(empty)");
    char name[512];
    if (gitrepo_name_compose(repo, package_name, workspace, name, sizeof name) != 0 ||
        !gitrepo_is_dns1123_subdomain(name))
        return porch_error_set(422, "package revision name %s.%s.%s is not a DNS-1123 subdomain",
                               repo, package_name, workspace);
    return 0;
}

/* Index of the workspace part: after ".v<digits and dots ending in a digit>" or the last '.'. */
static const char *workspace_start(const char *name)
{
    size_t len = strlen(name);
    if (len > 0 && isdigit((unsigned char)name[len - 1])) {
        const char *v = NULL;
        for (const char *p = name; (p = strstr(p, ".v")) != NULL; p++)
            v = p;
        if (v) {
            int ok = v[2] != 0;
            for (const char *q = v + 2; *q; q++)
                if (!isdigit((unsigned char)*q) && *q != '.')
                    ok = 0;
            if (ok)
                return v + 1;
        }
    }
    const char *dot = strrchr(name, '.');
    return dot ? dot + 1 : NULL;
}

int gitrepo_name_parse(const char *name, gitrepo_name_parts *out)
{
    memset(out, 0, sizeof *out);
    if (!name || strlen(name) >= GITREPO_NAME_MAX)
        return porch_error_set(400, "package revision name is empty or too long");
    const char *ws = workspace_start(name);
    const char *first = strchr(name, '.');
    if (!ws || !first || ws - 1 <= first || !*ws)
        return porch_error_set(400,
                               "cannot parse package revision name %s: expected "
                               "<repository>.<package>.<workspace>",
                               name);
    memcpy(out->repository, name, (size_t)(first - name));
    strcpy(out->workspace, ws);
    /* between first '.' and the '.' before the workspace: path segments and the leaf */
    const char *mid = first + 1, *mid_end = ws - 1;
    const char *leaf = mid_end;
    while (leaf > mid && leaf[-1] != '.')
        leaf--;
    if (leaf == mid_end)
        return porch_error_set(400, "cannot parse package revision name %s: empty package name",
                               name);
    memcpy(out->package, leaf, (size_t)(mid_end - leaf));
    if (leaf > mid) {
        size_t n = (size_t)(leaf - 1 - mid);
        memcpy(out->path, mid, n);
        for (size_t i = 0; i < n; i++)
            if (out->path[i] == '.')
                out->path[i] = '/';
    }
    if (!out->repository[0])
        return porch_error_set(400, "cannot parse package revision name %s: empty repository",
                               name);
    return 0;
}

void gitrepo_uid(const char *namespace_, const char *name, char out[GITREPO_UID_LEN])
{
    static const unsigned char ns[16] = {0xaa, 0xc7, 0x1d, 0x91, 0x5c, 0x67, 0x45, 0x6f,
                                         0x8f, 0xd2, 0x90, 0x2e, 0xf6, 0xda, 0x82, 0x0e};
    char text[1024];
    int n = snprintf(text, sizeof text, "packagerevision:porch.kpt.dev/v1alpha1/%s/%s",
                     namespace_ ? namespace_ : "", name ? name : "");
    if (n < 0 || (size_t)n >= sizeof text)
        n = (int)sizeof text - 1;
    for (int i = 0; i < n; i++)
        text[i] = (char)tolower((unsigned char)text[i]);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, ns, sizeof ns);
    EVP_DigestUpdate(ctx, text, (size_t)n);
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 15];
    }
    out[o] = 0;
}

int gitrepo_revision_parse(const char *version)
{
    if (!version)
        return -1;
    if (version[0] == 'v')
        version++;
    const char *p = version;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q))
            return -1;
    if (strlen(p) > 9)
        return -1;
    return atoi(version);
}

int gitrepo_mirror_dirname(const char *url, char *buf, size_t len)
{
    size_t n = strlen(url);
    if (n == 0 || n + 1 > len)
        return porch_error_set(400, "repository URL is empty or too long");
    for (size_t i = 0; i <= n; i++)
        buf[i] = (url[i] == '/' || url[i] == ':') ? '-' : url[i];
    return 0;
}
