/* The "Full report" button. The report is not served through the API's answer (it is larger
 * than an AWS Lambda response may be): the page asks report-link, with its token, for a URL valid
 * a few minutes (S3 presigned, or the API's own signed link) and opens it in a new tab. A plain
 * link could not send the token. */
import { api, dsPath } from './api.js';
import { showApiError } from './notices.js';
import { versionParam } from './state.js';

export async function openReport(event) {
  event.preventDefault();
  // Opened now, inside the click, so that popup blockers allow it; pointed at the URL below.
  const tab = window.open('', '_blank');
  if (tab) tab.opener = null;
  try {
    const link = await api(dsPath('/report-link'), { version: versionParam() });
    if (tab) tab.location.replace(link.url); else window.location.assign(link.url);
  } catch (err) {
    if (tab) tab.close();
    showApiError(err, 'the report');
  }
}
