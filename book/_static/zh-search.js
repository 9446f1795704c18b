/* Chinese search (loaded only by the Chinese edition, before Sphinx's searchtools.js).
 *
 * At build time jieba splits the Chinese text into words (html_search_language: zh), so the
 * index holds 激活, 函数, 梯度, 消失 ... But a reader types 激活函数 without spaces, and Sphinx's
 * default splitQuery keeps that as one term, which is not in the index: no result.
 * This splitQuery cuts every run of Han characters into the longest words that the index
 * itself contains (forward maximum matching); other text is split as Sphinx does.
 * A single character that is not a word of the index is dropped (Sphinx indexes no 1-char
 * terms), so 的/和 in a query do not empty the result.
 */
var splitQuery = (query) => {
  const index = typeof Search !== "undefined" && Search._index ? Search._index : null;
  const known = (word) =>
    !!index && (Object.hasOwn(index.terms, word) || Object.hasOwn(index.titleterms, word));
  const out = [];
  const tokens = query.split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu);
  for (const token of tokens.filter((t) => t)) {
    for (const part of token.match(/\p{Script=Han}+|[^\p{Script=Han}]+/gu)) {
      if (!/\p{Script=Han}/u.test(part) || !index) {
        out.push(part);
        continue;
      }
      let i = 0;
      while (i < part.length) {
        let j = part.length;
        while (j > i + 1 && !known(part.slice(i, j))) j--;
        const word = part.slice(i, j);
        if (word.length > 1 || known(word)) out.push(word);
        i = j;
      }
    }
  }
  return out;
};
