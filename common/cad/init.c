/* `pkg init`: writes the Kptfile, README.md and package-context.yaml that
 * kpt 1.0 writes into an existing directory, leaving existing files alone
 * (an existing Kptfile too: kpt then writes only what is missing). */
#include "cad_internal.h"

#include "error/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char readme_tmpl[] =
    "# %s\n\n## Description\n%s\n\n## Usage\n\n### Fetch the package\n"
    "`kpt pkg get REPO_URI[.git]/PKG_PATH[@VERSION] %s`\n"
    "Details: https://kpt.dev/reference/cli/pkg/get/\n\n### View package content\n"
    "`kpt pkg tree %s`\nDetails: https://kpt.dev/reference/cli/pkg/tree/\n\n### Apply the package\n"
    "```\nkpt live init %s\nkpt live apply %s --reconcile-timeout=2m --output=table\n```\n"
    "Details: https://kpt.dev/reference/cli/live/\n";

static const char context_yaml[] = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kptfile.kpt.dev\n"
                                   "  annotations:\n    config.kubernetes.io/local-config: \"true\"\n"
                                   "data:\n  name: example\n";

static int write_new(const cad_init_opts *o, const char *name, const char *data)
{
    char *p = cad_path_join(o->dir, name);
    int rc = 0;
    if (!cad_exists(p)) {
        if (o->log) {
            const char *d = o->display && strcmp(o->display, ".") ? o->display : NULL;
            if (d)
                fprintf(o->log, "writing %s%s%s\n", d, d[strlen(d) - 1] == '/' ? "" : "/", name);
            else
                fprintf(o->log, "writing %s\n", name);
        }
        rc = cad_write_file(p, data, strlen(data));
    }
    free(p);
    return rc;
}

int cad_pkg_init(const cad_init_opts *o)
{
    char *abs = cad_abspath(o->dir);
    if (!cad_is_dir(abs)) {
        porch_error_set(404, "%s does not exist", abs);
        free(abs);
        return -1;
    }
    const char *base = strrchr(abs, '/');
    base = base && base[1] ? base + 1 : abs;
    const char *name = o->name ? o->name : base;
    const char *desc = o->description ? o->description : "sample description";
    krm_stream *s = krm_stream_new();
    krm_node *root = krm_node_new_map(s), *md = krm_node_new_map(s), *info = krm_node_new_map(s);
    krm_map_set(s, root, "apiVersion", krm_node_new_string(s, "kpt.dev/v1"));
    krm_map_set(s, root, "kind", krm_node_new_string(s, "Kptfile"));
    krm_map_set(s, md, "name", krm_node_new_string(s, name));
    krm_map_set(s, root, "metadata", md);
    krm_res_set_annotation(s, root, "config.kubernetes.io/local-config", "true");
    if (o->site && *o->site)
        krm_map_set(s, info, "site", krm_node_new_string(s, o->site));
    krm_map_set(s, info, "description", krm_node_new_string(s, desc));
    if (o->keywords && *o->keywords) {
        krm_node *kw = krm_node_new_seq(s);
        char *dup = strdup(o->keywords), *save = NULL;
        for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save))
            krm_seq_append(s, kw, krm_node_new_string(s, t));
        free(dup);
        krm_map_set(s, info, "keywords", kw);
    }
    krm_map_set(s, root, "info", info);
    krm_buf b = {0};
    int rc = krm_node_emit(root, KRM_SEQ_COMPACT, &b);
    if (rc == 0) {
        char *data = strndup(b.data, b.len);
        rc = write_new(o, "Kptfile", data);
        free(data);
    }
    if (rc == 0) {
        char *readme = cad_sprintf(readme_tmpl, base, desc, base, base, base, base);
        rc = write_new(o, "README.md", readme);
        free(readme);
    }
    if (rc == 0)
        rc = write_new(o, "package-context.yaml", context_yaml);
    krm_buf_free(&b);
    krm_stream_free(s);
    free(abs);
    return rc;
}
