/* The engine's work directories for the CaD library (see engine.h): one per
 * request under --work-dir, removed with cad_workdir_remove; the file sets in
 * them are cad_files_write/read's. */
#include "cad/cad.h"
#include "engine.h"

int engine_workdir_new(engine *eng, char **out)
{
    return cad_workdir_new(eng->work_dir, out);
}
