import { useState, type DragEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, upload } from '../api/client';
import type { FileInfo, FileList } from '../api/types';
import { bytes, Confirm, Empty, ErrorBox, Loading, when } from '../components/ui';
import { precheckAvatar } from '../lib/upload';
import { useToast } from '../components/toast';
import { Gated } from '../components/gated';
import { useActiveWorkspace, useCan, useListQuery } from '../api/workspaces';
import { buildUrl } from '../api/client';

/** A file's two sizes, named, said the same way after the upload and in the list:
 * `size_bytes` is what was uploaded, `stored_bytes` what it costs against the quota
 * (every processed size of an avatar). */
export function fileSizes(f: FileInfo): string {
  return f.stored_bytes === f.size_bytes
    ? bytes(f.size_bytes)
    : `${bytes(f.size_bytes)} uploaded, ${bytes(f.stored_bytes)} stored`;
}

export default function Files() {
  const qc = useQueryClient();
  const ws = useListQuery();
  const files = useQuery({ queryKey: ['files', ws.workspace_id ?? 'all'], queryFn: () => api.get<FileList>('/v1/files', ws) });
  // An upload goes to the workspace chosen in the header (else the personal one).
  const target = useActiveWorkspace();
  const mayUpload = useCan('files.edit');
  const [over, setOver] = useState(false);
  const [progress, setProgress] = useState<number | null>(null);
  const [refused, setRefused] = useState<string | null>(null);
  const [last, setLast] = useState<FileInfo | null>(null);
  const [deleting, setDeleting] = useState<FileInfo | null>(null);
  const toast = useToast();
  const up = useMutation({
    mutationFn: (f: File) => {
      const form = new FormData();
      form.append('file', f);
      form.append('kind', 'avatar');
      setProgress(0);
      return upload<FileInfo>(buildUrl('/v1/files', { kind: 'avatar', workspace_id: target?.id }), form, setProgress);
    },
    onSuccess: (f) => {
      setLast(f);
      toast(`${f.name} uploaded ✓`);
      void qc.invalidateQueries({ queryKey: ['files'] });
    },
    onSettled: () => setProgress(null),
  });
  const del = useMutation({
    mutationFn: (id: string) => api.del(`/v1/files/${id}`),
    onSuccess: () => (setDeleting(null), toast('File deleted ✓'), void qc.invalidateQueries({ queryKey: ['files'] })),
  });
  const take = (list: FileList | globalThis.FileList | null | undefined) => {
    const f = (list as globalThis.FileList | null)?.[0];
    if (!f) return;
    if (!mayUpload.ok) return setRefused(mayUpload.reason);
    const why = precheckAvatar(f);
    // A new attempt: the last attempt's error (refused here or by the server) goes away.
    up.reset();
    setRefused(why);
    setLast(null);
    if (!why) up.mutate(f);
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    take(e.dataTransfer.files);
  };
  return (
    <>
      <h1>Files</h1>
      <div
        className={`drop ${over ? 'over' : ''}`}
        onDragOver={(e) => (e.preventDefault(), setOver(true))}
        onDragLeave={() => setOver(false)}
        onDrop={onDrop}
        data-testid="dropzone"
      >
        <p>Drop an avatar image here (PNG, JPEG, WebP or GIF, up to 8 MiB), or</p>
        <label htmlFor="avatar-file" className="button" style={{ display: 'inline-block' }} title={mayUpload.reason ?? undefined} aria-disabled={!mayUpload.ok}>Choose a file</label>
        <Gated perm="files.edit">
          <input id="avatar-file" type="file" accept="image/png,image/jpeg,image/webp,image/gif" style={{ position: 'absolute', left: -9999 }} onChange={(e) => take(e.target.files)} />
        </Gated>
        {!mayUpload.ok && <p className="muted small">{mayUpload.reason}</p>}
        {progress !== null && (
          <div>
            <progress value={progress} max={1} aria-label="Upload progress" /> {Math.round(progress * 100)}%{progress >= 1 && ' — processing…'}
          </div>
        )}
      </div>
      {refused && <div className="alert error" role="alert">{refused}</div>}
      <ErrorBox error={up.error} />
      {last && (
        <div className="alert ok" role="status" data-testid="upload-done">
          ✓ {last.name} uploaded{last.deduplicated ? ' (you already had this image)' : ''}: {last.width}×{last.height}
          {last.animated ? ', animated' : ''}, stored as WebP in {(last.variants ?? []).filter((v) => v.name !== 'original').length} sizes (<span data-testid="upload-sizes">{fileSizes(last)}</span>).
          <div className="row" style={{ marginTop: 6 }}>
            <img src={`/v1/files/${last.id}/content?variant=256`} alt={`Processed ${last.name}`} width={128} height={128} style={{ borderRadius: 12 }} />
          </div>
          Apply it to a bot from the bot’s Settings tab.
        </div>
      )}
      <h2>Your files</h2>
      {files.isPending && <Loading what="Loading files" />}
      <ErrorBox error={files.error} retry={() => files.refetch()} />
      {files.data && (
        <p className="muted small">
          Using {bytes(files.data.used_bytes)} of {bytes(files.data.quota_bytes)} · {files.data.used_files} of {files.data.quota_files} files
        </p>
      )}
      {files.data && files.data.files.length === 0 && <Empty>No files yet.</Empty>}
      <div className="grid">
        {files.data?.files.map((f) => (
          <div key={f.id} className="panel">
            {f.kind === 'avatar' && <img src={`/v1/files/${f.id}/content?variant=128`} alt={f.name} width={64} height={64} style={{ borderRadius: 8 }} loading="lazy" />}
            <div><strong title={f.name}>{f.name}</strong></div>
            <div className="muted small">{f.kind} · <span data-testid="file-sizes">{fileSizes(f)}</span> · {when(f.created_at)}</div>
            <Gated perm="files.edit" workspaceId={f.workspace_id}>
              <button className="danger" onClick={() => setDeleting(f)}>Delete</button>
            </Gated>
          </div>
        ))}
      </div>
      <ErrorBox error={del.error} />
      <Confirm open={deleting !== null} title={`Delete ${deleting?.name}?`} confirmLabel="Delete file" busy={del.isPending} onConfirm={() => deleting && del.mutate(deleting.id)} onCancel={() => setDeleting(null)}>
        <p>Every processed size is removed too.</p>
      </Confirm>
    </>
  );
}
