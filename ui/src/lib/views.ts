// The views and dialogs the first paint does not need, each in a chunk of its own that the
// window loads (once) when it is first shown: the list becomes interactive sooner and a
// window that only shows the list never compiles them.
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => (loading ??= load());
}

export const views = {
  detail: once(() => import('../components/ConnectionDetail.svelte')),
  settings: once(() => import('../components/SettingsView.svelte')),
  connect: once(() => import('../components/ConnectDialog.svelte')),
  revoke: once(() => import('../components/RevokeDialog.svelte')),
  recovery: once(() => import('../components/Recovery.svelte')),
};
