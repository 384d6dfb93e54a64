// Labels in Chinese (the default) and English. `t(key)` reads the current
// language; `label(group, value)` names an enum value or rule, falling back
// to the raw value the server sent.

const STRINGS = {
  title: ['优码 品牌控制台', 'youma brand console'],
  lang: ['English', '中文'],
  token: ['访问令牌', 'Access token'],
  brandOptional: ['品牌（全品牌管理员令牌时填写）', 'Brand (for an all-brands admin token)'],
  login: ['登录', 'Log in'],
  logout: ['退出', 'Log out'],
  loginHint: ['使用审计员或管理员令牌（ym_…）登录。令牌只发送一次，之后由会话 Cookie 代替。',
              'Log in with an auditor or admin token (ym_…). It is sent once; a session cookie stands in for it after.'],
  loading: ['加载中…', 'Loading…'],
  none: ['暂无数据', 'Nothing yet'],
  query: ['查询', 'Apply'],
  csv: ['下载 CSV', 'Download CSV'],
  updated: ['更新于', 'Updated'],
  role: ['角色', 'Role'],
  brand: ['品牌', 'Brand'],

  batches: ['批次', 'Batches'],
  batchId: ['批次号', 'Batch'],
  product: ['产品', 'Product'],
  gtin: ['GTIN', 'GTIN'],
  kind: ['类型', 'Kind'],
  quantity: ['数量', 'Quantity'],
  codeCount: ['码数', 'Codes'],
  activation: ['激活方式', 'Activation'],
  created: ['创建时间', 'Created'],
  codeStates: ['码状态', 'Code states'],
  active: ['已激活', 'Active'],
  notActive: ['未激活', 'Not active'],
  frozen: ['已冻结', 'Frozen'],
  revoked: ['已作废', 'Revoked'],
  olderBatches: ['更早的批次', 'Older batches'],
  batchesShown: ['已显示批次', 'Batches shown'],

  campaigns: ['营销活动', 'Campaigns'],
  budget: ['预算', 'Budget'],
  spent: ['已发放', 'Spent'],
  left: ['剩余', 'Left'],
  awards: ['中奖次数', 'Awards'],
  exhausted: ['预算已用尽', 'Budget exhausted'],
  period: ['活动时间', 'Period'],
  tiers: ['奖项', 'Prize tiers'],
  tier: ['奖项', 'Tier'],
  amount: ['金额', 'Amount'],
  probability: ['中奖概率', 'Odds'],
  cap: ['上限', 'Cap'],
  noCap: ['不限', 'none'],
  awarded: ['已中出', 'Awarded'],
  paid: ['已发金额', 'Paid'],
  limitsHit: ['触发风控', 'Limits hit'],
  scansHeld: ['次扫码', 'scans'],
  payouts: ['红包发放', 'Payouts'],
  pending: ['待发放', 'Pending'],
  sent: ['已发送', 'Sent'],
  confirmed: ['已到账', 'Confirmed'],
  failed: ['失败', 'Failed'],
  storeRewards: ['门店奖励', 'Store rewards'],
  registrationBonuses: ['注册红包', 'Registration bonuses'],
  rebates: ['返利', 'Rebates'],
  seedSha256: ['种子哈希（启动时公布）', 'Seed hash (published at launch)'],
  seedHex: ['种子（结束时揭晓）', 'Seed (revealed at the end)'],
  budgetChart: ['预算：已发放 / 剩余（元）', 'Budget: spent / left (yuan)'],
  yuan: ['元', 'yuan'],

  diversion: ['窜货报告', 'Diversion report'],
  dealer: ['经销商', 'Dealer'],
  from: ['开始日期', 'From'],
  to: ['结束日期', 'To'],
  byDealer: ['按经销商汇总', 'By dealer'],
  byShipment: ['按发货单汇总（被标记箱数最多的在前）', 'By shipment (most flagged cases first)'],
  moreShipments: ['另有被标记箱数较少的发货单（CSV 含全部）', 'More shipments with fewer flagged cases (the CSV has them all)'],
  shipTime: ['发货时间', 'Shipped'],
  scannedIn: ['扫码所在省份', 'Scanned in'],
  neverShipped: ['未发货（按批次计划区域）', 'Never shipped (planned territory)'],
  moreFlags: ['更多标记', 'More flags'],
  flagsShown: ['已显示标记（按标记时间；汇总与 CSV 含全部）', 'Flags shown (by flag time; the totals and the CSV count them all)'],
  flaggedCases: ['被标记箱数', 'Flagged cases'],
  evidenceScans: ['证据扫码数', 'Evidence scans'],
  caseCode: ['箱码 ID', 'Case code'],
  rule: ['规则', 'Rule'],
  shipment: ['发货单', 'Shipment'],
  territory: ['授权区域', 'Territory'],
  evidence: ['证据', 'Evidence'],
  flagTime: ['标记时间', 'Flagged'],
  clientScanId: ['扫码请求 ID', 'Client scan id'],
  user: ['用户', 'User'],
  scanRole: ['扫码身份', 'Role'],
  region: ['地区', 'Region'],
  regionSource: ['定位来源', 'Located by'],
  scanTime: ['扫码时间', 'Scanned'],
  flags: ['窜货标记', 'Flags'],

  regions: ['地区分布与假码热点', 'Regions and counterfeit hot spots'],
  province: ['省份', 'Province'],
  adcode: ['区划代码', 'Adcode'],
  scans: ['正品扫码', 'Genuine scans'],
  counterfeits: ['假码扫码', 'Counterfeit scans'],
  counterfeitShare: ['假码占比', 'Counterfeit share'],
  hotSpot: ['热点', 'hot spot'],

  leaderboard: ['店主排行', 'Store leaderboard'],
  regionPrefix: ['地区代码前缀', 'Region prefix'],
  order: ['排序', 'Order'],
  orderCases: ['按开箱数', 'By cases opened'],
  orderScans: ['按消费者扫码', 'By consumer scans'],
  rank: ['名次', 'Rank'],
  store: ['门店', 'Store'],
  storeId: ['门店 ID', 'Store id'],
  casesOpened: ['开箱数', 'Cases opened'],
  consumerScans: ['消费者扫码', 'Consumer scans'],
  rebate: ['返利', 'Rebate'],
};

const LABELS = {
  BATCH_KIND_CASE: ['箱码', 'Case'],
  BATCH_KIND_BOTTLE: ['瓶码', 'Bottle'],
  BATCH_KIND_SET: ['套标', 'Set'],
  ACTIVATION_POLICY_UNSPECIFIED: ['立即激活', 'Immediately'],
  ACTIVATION_POLICY_IMMEDIATE: ['立即激活', 'Immediately'],
  ACTIVATION_POLICY_AT_TIME: ['定时激活', 'At a set time'],
  ACTIVATION_POLICY_ON_SHIPMENT: ['出库激活', 'On shipment'],
  CAMPAIGN_STATE_DRAFT: ['草稿', 'Draft'],
  CAMPAIGN_STATE_ACTIVE: ['进行中', 'Active'],
  CAMPAIGN_STATE_ENDED: ['已结束', 'Ended'],
  SCAN_ROLE_CONSUMER: ['消费者', 'Consumer'],
  SCAN_ROLE_STORE_OWNER: ['店主', 'Store owner'],
  SCAN_ROLE_DEALER_INSPECTION: ['经销商稽查', 'Dealer inspection'],
  REGION_SOURCE_GPS: ['GPS', 'GPS'],
  REGION_SOURCE_IP: ['IP（仅省级）', 'IP (province only)'],
  store_owner_out_of_territory: ['店主在授权区域外开箱', 'Store owner opened the case outside the territory'],
  consumers_out_of_territory: ['消费者在授权区域外扫码', 'Consumers scanned outside the territory'],
  user_velocity: ['同一用户扫码过频', 'Scans per user per day'],
  device_velocity: ['同一设备扫码过频', 'Scans per device per day'],
  ip_velocity: ['同一 IP 扫码过频', 'Scans per IP per day'],
  impossible_travel: ['不可能的移动速度', 'Impossible travel'],
  case_sweep: ['同一用户扫遍整箱', 'One user sweeping a case'],
  new_account_burst: ['同一 IP 新账号激增', 'Burst of new accounts from one IP'],
};

const KEY = 'youma.console.lang';
let index = 0;
try {
  index = localStorage.getItem(KEY) === 'en' ? 1 : 0;
} catch {
  index = 0;
}

export function lang() {
  return index === 0 ? 'zh' : 'en';
}

export function setLang(l) {
  index = l === 'en' ? 1 : 0;
  try {
    localStorage.setItem(KEY, lang());
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  document.documentElement.lang = index === 0 ? 'zh-CN' : 'en';
  document.title = t('title');
}

export function t(key) {
  const s = STRINGS[key];
  return s ? s[index] : key;
}

export function label(value) {
  if (value == null || value === '') return '—';
  const s = LABELS[value];
  return s ? s[index] : String(value);
}
