/* The git layer's share of each lifecycle write, in-process (no bus, no
 * cache): on a bare repository given on the command line (the caller passes a
 * copy; it is written to), times open (cold and warm), a full listing, the
 * version digest, and per item: write_draft (init), write_draft of an update
 * (one file changed), find, list_package, propose, publish, propose-deletion
 * + delete, a Draft delete, and an update committed and proposed in one push. Beside
 * them, as the reference, `git_reference_lookup` of one ref and one loose
 * object write, the floor any git write pays. Prints medians in ms. */
#include <git2.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error/error.h"
#include "gitrepo/gitrepo.h"

#define MAX_ITEMS 200

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? v[n / 2] : 0;
}

static void die(const char *what)
{
    fprintf(stderr, "gitrepo-bench: %s: %s\n", what, porch_error_last()->message);
    exit(1);
}

static json_t *init_files(const char *pkg)
{
    char kptfile[512];
    snprintf(kptfile, sizeof kptfile,
             "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: %s\n  annotations:\n"
             "    config.kubernetes.io/local-config: \"true\"\ninfo:\n  description: bench\n",
             pkg);
    return json_pack("{s:s, s:s}", "Kptfile", kptfile, "README.md", "# bench\n");
}

/* The Kptfile with a line added (a render record, say): one file changed. */
static void changed_kptfile(json_t *files, const char *why)
{
    char kptfile[1024];
    snprintf(kptfile, sizeof kptfile, "%sstatus:\n  note: %s\n",
             json_string_value(json_object_get(files, "Kptfile")), why);
    json_object_set_new(files, "Kptfile", json_string(kptfile));
}

typedef struct samples {
    const char *label;
    double v[MAX_ITEMS];
    int n;
} samples;

static void report(samples *s)
{
    printf("| %-34s | %8.2f | %4d |\n", s->label, median(s->v, s->n), s->n);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench-gitrepo BARE_REPO CACHE_DIR [ITEMS]\n");
        return 2;
    }
    int items = argc > 3 ? atoi(argv[3]) : 20;
    if (items < 1 || items > MAX_ITEMS)
        items = 20;
    gitrepo_library_init(0);
    char url[4096];
    snprintf(url, sizeof url, "file://%s", argv[1]);
    gitrepo_config cfg = {.name = "bench", .namespace_ = "ns", .url = url, .cache_dir = argv[2]};
    gitrepo *repo = NULL;
    double t0 = now_ms();
    if (gitrepo_open(&cfg, &repo) != 0)
        die("open");
    double cold = now_ms() - t0;
    gitrepo_free(repo);
    t0 = now_ms();
    if (gitrepo_open(&cfg, &repo) != 0)
        die("open");
    double warm = now_ms() - t0;
    json_t *all = NULL;
    t0 = now_ms();
    if (gitrepo_list(repo, &all) != 0)
        die("list");
    double list = now_ms() - t0;
    size_t revisions = json_array_size(all);
    json_decref(all);
    printf("open cold %.1f ms, open warm %.1f ms, full list %.1f ms (%zu revisions)\n\n", cold,
           warm, list, revisions);

    samples s_version = {.label = "version digest"}, s_fetch = {.label = "fetch (remote unchanged)"},
            s_draft = {.label = "write_draft (init)"}, s_find = {.label = "find (one revision)"},
            s_update = {.label = "write_draft (update, 1 file changed)"},
            s_upprop = {.label = "write_draft + propose (one push)"},
            s_listpkg = {.label = "list_package"}, s_propose = {.label = "set_lifecycle Proposed"},
            s_publish = {.label = "set_lifecycle Published"}, s_delprop = {.label = "set_lifecycle DeletionProposed"},
            s_delpub = {.label = "delete (DeletionProposed)"}, s_deldraft = {.label = "delete (Draft)"},
            s_ref = {.label = "reference: one ref lookup"}, s_obj = {.label = "reference: one blob write"};
    git_repository *raw = NULL;
    if (git_repository_open_bare(&raw, argv[1]) != 0)
        die("open raw");
    for (int i = 0; i < items; i++) {
        char pkg[64], name[256], sha[GITREPO_SHA_HEX], blob[64];
        snprintf(pkg, sizeof pkg, "gbench-%d-%03d", (int)(t0 / 1000) % 100000, i);
        json_t *files = init_files(pkg), *task = json_pack("{s:s}", "type", "init"), *item = NULL;
        gitrepo_draft_spec spec = {.package = pkg, .workspace = "ws", .resources = files,
                                   .task = task};
        double t = now_ms();
        char version[65];
        gitrepo_version(repo, version);
        s_version.v[s_version.n++] = now_ms() - t;
        t = now_ms();
        if (gitrepo_fetch(repo) != 0)
            die("fetch");
        s_fetch.v[s_fetch.n++] = now_ms() - t;
        t = now_ms();
        if (gitrepo_write_draft(repo, &spec, sha) != 0)
            die("write_draft");
        s_draft.v[s_draft.n++] = now_ms() - t;
        char prev[GITREPO_SHA_HEX];
        snprintf(prev, sizeof prev, "%s", sha);
        changed_kptfile(files, "update");
        spec.expect = prev;
        t = now_ms();
        if (gitrepo_write_draft(repo, &spec, sha) != 0)
            die("write_draft update");
        s_update.v[s_update.n++] = now_ms() - t;
        spec.expect = NULL;
        gitrepo_name_compose("bench", pkg, "ws", name, sizeof name);
        t = now_ms();
        if (gitrepo_find(repo, name, &item) != 0)
            die("find");
        s_find.v[s_find.n++] = now_ms() - t;
        json_decref(item);
        t = now_ms();
        if (gitrepo_list_package(repo, pkg, &item) != 0)
            die("list_package");
        s_listpkg.v[s_listpkg.n++] = now_ms() - t;
        json_decref(item);
        t = now_ms();
        if (gitrepo_set_lifecycle(repo, name, "Proposed", 0, NULL, NULL, NULL) != 0)
            die("propose");
        s_propose.v[s_propose.n++] = now_ms() - t;
        t = now_ms();
        if (gitrepo_set_lifecycle(repo, name, "Published", 0, NULL, NULL, NULL) != 0)
            die("publish");
        s_publish.v[s_publish.n++] = now_ms() - t;
        t = now_ms();
        if (gitrepo_set_lifecycle(repo, name, "DeletionProposed", 0, NULL, NULL, NULL) != 0)
            die("propose deletion");
        s_delprop.v[s_delprop.n++] = now_ms() - t;
        t = now_ms();
        if (gitrepo_delete(repo, name, NULL, NULL) != 0)
            die("delete published");
        s_delpub.v[s_delpub.n++] = now_ms() - t;
        /* a Draft to delete */
        spec.workspace = "ws2";
        if (gitrepo_write_draft(repo, &spec, sha) != 0)
            die("write_draft 2");
        gitrepo_name_compose("bench", pkg, "ws2", name, sizeof name);
        t = now_ms();
        if (gitrepo_delete(repo, name, NULL, NULL) != 0)
            die("delete draft");
        s_deldraft.v[s_deldraft.n++] = now_ms() - t;
        /* a Draft updated and proposed in one push, as a propose that re-rendered */
        spec.workspace = "ws3";
        if (gitrepo_write_draft(repo, &spec, sha) != 0)
            die("write_draft 3");
        snprintf(prev, sizeof prev, "%s", sha);
        changed_kptfile(files, "propose");
        spec.expect = prev;
        spec.propose = 1;
        t = now_ms();
        if (gitrepo_write_draft(repo, &spec, sha) != 0)
            die("write_draft + propose");
        s_upprop.v[s_upprop.n++] = now_ms() - t;
        spec.expect = NULL;
        spec.propose = 0;
        gitrepo_name_compose("bench", pkg, "ws3", name, sizeof name);
        if (gitrepo_delete(repo, name, NULL, NULL) != 0)
            die("delete proposed");
        json_decref(files);
        json_decref(task);
        /* references */
        git_oid oid;
        t = now_ms();
        git_reference_name_to_id(&oid, raw, "refs/heads/main");
        s_ref.v[s_ref.n++] = now_ms() - t;
        snprintf(blob, sizeof blob, "gitrepo-bench blob %d %f", i, t);
        t = now_ms();
        git_blob_create_from_buffer(&oid, raw, blob, strlen(blob));
        s_obj.v[s_obj.n++] = now_ms() - t;
    }
    printf("| step (%d items) | median ms | n |\n|---|---:|---:|\n", items);
    samples *all_s[] = {&s_version, &s_fetch,   &s_draft,    &s_update, &s_find,
                        &s_listpkg, &s_propose, &s_publish,  &s_delprop, &s_delpub,
                        &s_deldraft, &s_upprop, &s_ref,      &s_obj};
    for (size_t i = 0; i < sizeof all_s / sizeof *all_s; i++)
        report(all_s[i]);
    git_repository_free(raw);
    gitrepo_free(repo);
    git_libgit2_shutdown();
    return 0;
}
