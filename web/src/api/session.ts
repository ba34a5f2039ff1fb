import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { Me, ProviderList } from './types';

export function useMe() {
  return useQuery({
    queryKey: ['me'],
    queryFn: () => api.get<Me>('/v1/me', undefined, { quiet401: true }),
    retry: false,
    staleTime: 60_000,
    // Signed out, the layout's 401 sends the visitor to the sign-in page, which would ask
    // again on mount: the known "not signed in" is the answer (signing in reloads the page;
    // an expired session clears the cache first). Other errors keep their Retry button.
    retryOnMount: false,
  });
}

export function useProviders() {
  return useQuery({ queryKey: ['providers'], queryFn: () => api.get<ProviderList>('/v1/auth/providers'), staleTime: 300_000 });
}

export function loginUrl(provider: string, next: string, link = false): string {
  const q = new URLSearchParams({ next });
  if (link) q.set('link', 'true');
  return `/v1/auth/${encodeURIComponent(provider)}/login?${q}`;
}
