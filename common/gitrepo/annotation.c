/* The `kpt:{…}` commit annotations Porch writes into commit messages (spec
 * §11.4): parsing every annotation line of a message (bad ones are skipped,
 * as Porch does) and formatting messages byte-for-byte like Porch, so
 * repositories written by either implementation read the same in both. */
#include "gitrepo/gitrepo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *gitrepo_annotations_parse(const char *message, int *skipped)
{
    json_t *out = json_array();
    int bad = 0;
    const char *line = message ? message : "";
    while (*line) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        /* Porch trims whitespace around each line before looking for the prefix. */
        const char *s = line, *e = line + n;
        while (s < e && (*s == ' ' || *s == '\t' || *s == '\r'))
            s++;
        while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
            e--;
        if (e - s >= 4 && strncmp(s, "kpt:", 4) == 0) {
            json_t *ann = json_loadb(s + 4, (size_t)(e - s - 4), 0, NULL);
            if (ann && json_is_object(ann)) {
                json_array_append_new(out, ann);
            } else {
                json_decref(ann);
                bad++;
            }
        }
        line = end ? end + 1 : line + n;
    }
    if (skipped)
        *skipped = bad;
    return out;
}

const char *gitrepo_task_message(const char *task_type)
{
    if (!task_type || !*task_type)
        return "Intermediate commit";
    if (strcmp(task_type, "init") == 0)
        return "Creating new empty revision";
    if (strcmp(task_type, "render") == 0)
        return "Rendering package";
    if (strcmp(task_type, "edit") == 0)
        return "Creating new revision by copying previous revision";
    if (strcmp(task_type, "clone") == 0)
        return "Creating new revision by cloning";
    if (strcmp(task_type, "upgrade") == 0)
        return "Upgrading revision";
    return NULL; /* caller formats "Intermediate commit: <type>" */
}

char *gitrepo_commit_message(const char *first_line, int draft, const char *package_path,
                             const char *workspace, const char *revision, const json_t *task)
{
    /* Field order and omitempty as Go's json.Marshal of Porch's gitAnnotation. */
    json_t *ann = json_object();
    if (package_path && *package_path)
        json_object_set_new(ann, "package", json_string(package_path));
    if (workspace && *workspace)
        json_object_set_new(ann, "workspaceName", json_string(workspace));
    if (revision && *revision)
        json_object_set_new(ann, "revision", json_string(revision));
    if (task)
        json_object_set(ann, "task", (json_t *)task);
    char *js = json_dumps(ann, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(ann);
    if (!js)
        return NULL;
    size_t n = strlen(first_line) + strlen(js) + 16;
    char *msg = malloc(n);
    if (msg)
        snprintf(msg, n, "%s%s\n\nkpt:%s\n", first_line, draft ? "\n" : "", js);
    free(js);
    return msg;
}
