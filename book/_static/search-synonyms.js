/* Search that understands readers' words (both editions; loaded before Sphinx's searchtools.js,
 * after zh-search.js in the Chinese edition).
 *
 * Readers search with the word they know, which is not always the one the book uses: many say
 * 准确率 or 正确率 where the book says 精度 (accuracy), d2l's readers know dropout as 暂退法 or
 * 丢弃法, many know pooling as 池化 and augmentation as 增强 where the book (like d2l) says 汇聚
 * and 增广, and "step size" is another name for the learning rate. Before the query is split into
 * terms, each synonym below is replaced by the book's own term, so the search finds the page that
 * explains it (and highlights the book's word there). Add a pair here when readers miss a page.
 */
const SEARCH_SYNONYMS = {
  zh: [
    ["准确率", "精度"],
    ["正确率", "精度"],
    ["准确度", "精度"],
    ["丢弃法", "暂退法"],
    ["池化", "汇聚"], // 池化层 -> 汇聚 层, 最大池化 -> 最大 汇聚
    ["数据增强", "数据增广"], // not 增强 alone: it also means "strengthen"
    ["图像增强", "图像增广"],
    ["学习速率", "学习率"],
  ],
  en: [
    ["correct rate", "accuracy"],
    ["hit rate", "accuracy"],
    ["drop-out", "dropout"],
    ["drop out", "dropout"],
    ["step size", "learning rate"],
    ["learning-rate", "learning rate"],
  ],
};

var splitQuery = ((split) => {
  const lang = (document.documentElement.lang || "en").startsWith("zh") ? "zh" : "en";
  const pairs = SEARCH_SYNONYMS[lang];
  const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const rules = pairs.map(([word, term]) => [new RegExp(escape(word), "giu"), term]);
  return (query) => {
    let q = query;
    for (const [re, term] of rules) q = q.replace(re, ` ${term} `);
    return split(q);
  };
})(
  typeof splitQuery === "function"
    ? splitQuery // the Chinese edition's, from zh-search.js
    : (query) => // Sphinx's default (searchtools.js defines it only when none exists)
        query
          .split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu)
          .filter((term) => term),
);
