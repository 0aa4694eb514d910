/* dlopen with RTLD_DEEPBIND under the shim (tests/shim/run.sh, case c-dlopen-deepbind): the
 * library's message calls must reach msgq, and the shim's dlopen must still resolve a bare
 * name through this program's RUNPATH ($ORIGIN/deepbind-lib), as libc does for its caller.
 * Also dlopen(NULL) and a missing library, whose dlerror() must be libc's. */
#include <dlfcn.h>
#include <stdio.h>

int main(void)
{
	void *self = dlopen(NULL, RTLD_NOW);
	printf("dlopen(NULL): %s\n", self ? "the program" : dlerror());
	void *none = dlopen("libmsgq-no-such-library.so", RTLD_NOW | RTLD_DEEPBIND);
	printf("missing library: %s\n", none ? "opened?" : dlerror());
	void *h = dlopen("libmsgq_deepbind.so", RTLD_NOW | RTLD_DEEPBIND);
	if (!h) { printf("dlopen: %s\n", dlerror()); return 1; }
	int (*f)(void) = (int (*)(void))dlsym(h, "deepbind_exchange");
	if (!f) { printf("dlsym: %s\n", dlerror()); return 1; }
	return f();
}
