// File downloads: a click on a link to a file (by its extension), or with a `download`
// attribute. Takes precedence over outbound_click (its listener comes first).
import { cut, feature, track } from "../api";
import { links } from "./links";

/** The extensions counted as downloads (documents, archives, media, installers). */
const EXT =
  /\.(pdf|zip|gz|tgz|bz2|xz|rar|7z|tar|doc|docx|xls|xlsx|csv|ppt|pptx|txt|rtf|odt|ods|odp|epub|mobi|mp3|mp4|m4a|mov|avi|wmv|wav|flac|ogg|mkv|dmg|exe|msi|pkg|deb|rpm|apk|iso|img|jar|ics|vcf)$/i;

feature("downloads", () =>
  links((a, u) => {
    const m = EXT.exec(u.pathname);
    const attr = a.getAttribute("download");
    if (!m && attr == null) return false;
    const ext = m || /\.(\w{1,8})$/.exec(attr || u.pathname);
    track("file_download", { url: cut(u.href), ext: ext ? ext[1].toLowerCase() : "" });
    return true;
  }),
);
