/*
 * The sandbox ("pause") process of the test pod images: holds the pod's namespaces and does
 * nothing else. As PID 1 of its namespace it gets no default signal handlers, so SIGTERM and
 * SIGINT would be ignored and every teardown would wait for SIGKILL: handle them and exit 0.
 * It also reaps orphans re-parented to it when containers share its PID namespace.
 * Built static (gcc -static) by scripts/build-images.ts: the image holds nothing but this file.
 */
#include <signal.h>
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int signal_number) {
  (void)signal_number;
  _exit(0);
}

static void reap(int signal_number) {
  (void)signal_number;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction on_stop = {.sa_handler = stop};
  struct sigaction on_child = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP | SA_RESTART};
  if (sigaction(SIGTERM, &on_stop, NULL) != 0 || sigaction(SIGINT, &on_stop, NULL) != 0 ||
      sigaction(SIGCHLD, &on_child, NULL) != 0) {
    return 1;
  }
  for (;;) {
    pause();
  }
}
