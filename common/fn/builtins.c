/* The table of built-in catalog functions, by catalog name (the image's last
 * path element without tag), in alphabetical order for describe and errors;
 * the flag marks those the catalog builds on the SDK (their output is sorted). */
#include "fn_builtin.h"

#include <string.h>

static const fn_builtin table[] = {
    {"apply-replacements", fn_builtin_apply_replacements, true},
    {"apply-setters", fn_builtin_apply_setters, false},
    {"create-setters", fn_builtin_create_setters, false},
    {"ensure-name-substring", fn_builtin_ensure_name_substring, false},
    {"fix", fn_builtin_fix, false},
    {"format", fn_builtin_format, false},
    {"list-setters", fn_builtin_list_setters, false},
    {"remove-local-config-resources", fn_builtin_remove_local_config_resources, false},
    {"search-replace", fn_builtin_search_replace, false},
    {"set-annotations", fn_builtin_set_annotations, false},
    {"set-enforcement-action", fn_builtin_set_enforcement_action, false},
    {"set-image", fn_builtin_set_image, true},
    {"set-labels", fn_builtin_set_labels, true},
    {"set-namespace", fn_builtin_set_namespace, true},
    {"upsert-resource", fn_builtin_upsert_resource, false},
};

const fn_builtin *fn_builtin_find(const char *name)
{
    for (size_t i = 0; i < sizeof table / sizeof *table; i++)
        if (!strcmp(table[i].name, name))
            return &table[i];
    return NULL;
}

size_t fn_builtin_count(void)
{
    return sizeof table / sizeof *table;
}

const fn_builtin *fn_builtin_at(size_t i)
{
    return i < fn_builtin_count() ? &table[i] : NULL;
}
