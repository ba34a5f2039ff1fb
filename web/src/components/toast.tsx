// Short confirmations ("Settings saved ✓"), said once in a status region and gone after a
// few seconds; errors stay with their form (formErrors.tsx), never in a toast.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';

type Toast = { id: number; text: string };
type Api = { toast: (text: string) => void };

const Ctx = createContext<Api>({ toast: () => {} });
export const TOAST_MS = 4000;

export function ToastProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<Toast[]>([]);
  const next = useRef(1);
  const timers = useRef(new Map<number, number>());
  const dismiss = useCallback((id: number) => {
    window.clearTimeout(timers.current.get(id));
    timers.current.delete(id);
    setItems((xs) => xs.filter((x) => x.id !== id));
  }, []);
  const toast = useCallback(
    (text: string) => {
      const id = next.current++;
      // The same words twice in a row replace each other instead of stacking.
      setItems((xs) => [...xs.filter((x) => x.text !== text), { id, text }].slice(-3));
      timers.current.set(id, window.setTimeout(() => dismiss(id), TOAST_MS));
    },
    [dismiss],
  );
  useEffect(() => {
    const t = timers.current;
    return () => t.forEach((h) => window.clearTimeout(h));
  }, []);
  const api = useMemo(() => ({ toast }), [toast]);
  return (
    <Ctx.Provider value={api}>
      {children}
      <div className="toasts" role="status" aria-live="polite" data-testid="toasts">
        {items.map((t) => (
          <div key={t.id} className="toast" data-testid="toast">
            {t.text}
            <button type="button" className="toast-close" aria-label="Dismiss" onClick={() => dismiss(t.id)}>
              ×
            </button>
          </div>
        ))}
      </div>
    </Ctx.Provider>
  );
}

/** `toast("Settings saved")`: a short confirmation; a no-op outside the provider. */
export function useToast(): (text: string) => void {
  return useContext(Ctx).toast;
}
